/**
 * The packages as a user outside this repository gets them: `npm run
 * pack-packages` packs them, a fresh project in the temp directory (its own
 * package.json, no workspace, no link into the repository) installs the tarballs
 * with plain `npm install` (third-party dependencies come from the registry
 * through the npm cache), and then, against the filesystem store and MinIO:
 * the README quick start, a typed Kysely transaction, a Drizzle schema with a
 * drizzle-kit migration and a transaction, the project type-checked with tsc,
 * and the CLI through `npx s3db`.
 */
import { execFile } from 'node:child_process'
import { cpSync, lstatSync, readFileSync, realpathSync, writeFileSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { delimiter, join, resolve, sep } from 'node:path'
import { promisify } from 'node:util'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { PackedPackage } from '../../scripts/pack-packages.ts'
import { freshBucket, s3Client, s3Endpoint, s3SkipReason } from '../support/s3.js'

const execFileP = promisify(execFile)
const ROOT = resolve(import.meta.dirname, '../..')
const FIXTURE = join(import.meta.dirname, 'outside-project')
const s3Skip = s3SkipReason()
if (s3Skip) console.log(`outside-install tests on MinIO SKIPPED: ${s3Skip}`)

const readJson = (path: string) => JSON.parse(readFileSync(path, 'utf8'))
const rootPkg = readJson(join(ROOT, 'package.json'))
const kyselyPkg = readJson(join(ROOT, 'packages/kysely-dialect/package.json'))
const drizzlePkg = readJson(join(ROOT, 'packages/drizzle-driver/package.json'))
const corePkg = readJson(join(ROOT, 'packages/core/package.json'))

/**
 * The environment of a user's shell: none of this run's npm, AWS or s3db variables,
 * and no PATH entry inside the repository (so nothing can resolve to the workspace).
 * The npm cache, user and global config stay: installs reuse the repository's cache.
 */
function userEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const keep = /^npm_config_(cache|userconfig|globalconfig|registry)$/i
  const env: NodeJS.ProcessEnv = {}
  for (const [k, v] of Object.entries(process.env)) {
    if (/^(AWS_|S3DB_|INIT_CWD$|VITEST|TEST$|NODE_OPTIONS$)/.test(k)) continue
    if (/^npm_/i.test(k) && !keep.test(k)) continue
    env[k] = v
  }
  env.PATH = (process.env.PATH ?? '')
    .split(delimiter)
    .filter((p) => p && !resolve(p).startsWith(ROOT + sep))
    .join(delimiter)
  return { ...env, ...extra }
}

interface Run {
  code: number
  stdout: string
  stderr: string
}

/** Runs a command in the project as a user would; never throws on a non-zero exit. */
async function run(
  cmd: string,
  args: string[],
  options: { cwd: string; env?: NodeJS.ProcessEnv; timeout?: number },
): Promise<Run> {
  try {
    const { stdout, stderr } = await execFileP(cmd, args, {
      cwd: options.cwd,
      env: userEnv(options.env),
      timeout: options.timeout ?? 120_000,
      maxBuffer: 32 * 1024 * 1024,
    })
    return { code: 0, stdout, stderr }
  } catch (err) {
    const e = err as { code?: number | string; stdout?: string; stderr?: string }
    return {
      code: typeof e.code === 'number' ? e.code : -1,
      stdout: e.stdout ?? '',
      stderr: e.stderr ?? String(err),
    }
  }
}

/** Like {@link run}, but a non-zero exit fails the test with the command's output. */
async function ok(
  cmd: string,
  args: string[],
  options: { cwd: string; env?: NodeJS.ProcessEnv; timeout?: number },
): Promise<string> {
  const r = await run(cmd, args, options)
  if (r.code !== 0) {
    throw new Error(`${cmd} ${args.join(' ')} exited ${r.code}\n${r.stdout}\n${r.stderr}`)
  }
  return r.stdout
}

/**
 * `npx --no -- s3db ARGS` in `cwd`: the command a user of the installed CLI types
 * (`--no`: fail instead of fetching a package named s3db if the bin were missing).
 */
function s3dbIn(cwd: string, env: NodeJS.ProcessEnv, ...args: string[]): Promise<string> {
  return ok('npx', ['--no', '--', 's3db', ...args], { cwd, env })
}

/** The README quick start, verbatim, plus a line that prints what it computed. */
function quickStart(store: 'filesystem' | 's3'): string {
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8')
  const section = readme.slice(readme.indexOf('## Quick start'))
  const code = /```ts\n([\s\S]*?)```/.exec(section)?.[1]
  if (!code) throw new Error('README.md: no ```ts block under "## Quick start"')
  const fsLine = "const store = await FileSystemBlobStore.open('./data')"
  // The README's own S3 alternative, with path-style addressing, as MinIO needs.
  const s3Line =
    'const store = new S3BlobStore({ client: new S3Client({ forcePathStyle: true }), bucket: process.env.TEST_BUCKET! })'
  if (!code.includes(fsLine)) throw new Error(`README quick start no longer has: ${fsLine}`)
  if (!code.includes('new S3BlobStore({ client: new S3Client({}), bucket: ')) {
    throw new Error('README quick start no longer shows the S3BlobStore alternative')
  }
  const body = store === 's3' ? code.replace(fsLine, s3Line) : code
  return `${body}\nconsole.log(JSON.stringify({ id: String(id), open }))\n`
}

let project = ''
let packed: PackedPackage[] = []

beforeAll(async () => {
  project = realpathSync(await mkdtemp(join(tmpdir(), 's3db-outside-')))
  expect(project.startsWith(ROOT + sep)).toBe(false)
  const out = await ok(
    process.execPath,
    // npm test has just built dist/; rebuilding it here (prepack) would empty it
    // while other test files run the CLI from it.
    [
      join(ROOT, 'scripts/pack-packages.ts'),
      '--json',
      '--no-build',
      '--out',
      join(project, 'tarballs'),
    ],
    { cwd: ROOT },
  )
  packed = JSON.parse(out) as PackedPackage[]
  const app = join(project, 'app')
  cpSync(FIXTURE, app, { recursive: true })
  writeFileSync(
    join(app, 'package.json'),
    `${JSON.stringify({ name: 'outside-app', private: true, type: 'module' }, null, 2)}\n`,
  )
  writeFileSync(join(app, 'quickstart.ts'), quickStart('filesystem'))
  writeFileSync(join(app, 'quickstart-s3.ts'), quickStart('s3'))
  // What the README tells a user to install, with the peers at the ranges the packages declare.
  await ok(
    'npm',
    [
      'install',
      '--no-audit',
      '--no-fund',
      '--prefer-offline',
      ...packed.map((p) => p.tarball),
      `@aws-sdk/client-s3@${corePkg.dependencies['@aws-sdk/client-s3']}`,
      `kysely@${kyselyPkg.peerDependencies.kysely}`,
      `drizzle-orm@${drizzlePkg.peerDependencies['drizzle-orm']}`,
      `drizzle-kit@${drizzlePkg.devDependencies['drizzle-kit']}`,
      `typescript@${rootPkg.devDependencies.typescript}`,
      `@types/node@${rootPkg.devDependencies['@types/node']}`,
    ],
    { cwd: app, timeout: 300_000 },
  )
}, 400_000)

afterAll(async () => {
  if (project) await rm(project, { recursive: true, force: true })
})

const app = () => join(project, 'app')

describe('packed tarballs', () => {
  it('hold exactly what belongs in each package', () => {
    expect(packed.map((p) => p.name)).toEqual([
      '@s3db/core',
      '@s3db/kysely',
      '@s3db/drizzle',
      '@s3db/cli',
    ])
    for (const p of packed) {
      expect({ name: p.name, missing: p.missing, unexpected: p.unexpected }).toEqual({
        name: p.name,
        missing: [],
        unexpected: [],
      })
    }
  })

  it('npm pack --dry-run lists the same files as the tarball', async () => {
    for (const [folder, p] of [
      ['core', packed[0]],
      ['kysely-dialect', packed[1]],
      ['drizzle-driver', packed[2]],
      ['cli', packed[3]],
    ] as const) {
      const out = await ok('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], {
        cwd: join(ROOT, 'packages', folder),
      })
      const files = (JSON.parse(out) as { files: { path: string }[] }[])[0]!.files.map(
        (f) => f.path,
      )
      expect(files.sort()).toEqual(p!.files)
    }
  })

  it('are installed as copies from the tarballs, not links into the repository', () => {
    const pkg = readJson(join(app(), 'package.json'))
    for (const p of packed) {
      expect(pkg.dependencies[p.name]).toMatch(/^file:.*\.tgz$/)
      const dir = join(app(), 'node_modules', p.name)
      expect(lstatSync(dir).isSymbolicLink()).toBe(false)
      expect(realpathSync(dir).startsWith(ROOT + sep)).toBe(false)
    }
  })
})

describe('installed packages, filesystem store', () => {
  it('run the README quick start, whose database the CLI then reads', async () => {
    const out = await ok(process.execPath, ['quickstart.ts'], { cwd: app() })
    expect(JSON.parse(out)).toEqual({
      id: '1',
      open: [{ id: 1, title: 'write docs', done: 0 }],
    })
    // The quick start's database is ./data with the prefix myapp/db/.
    const todos = await s3dbIn(
      app(),
      {},
      'sql',
      './data//myapp/db',
      'SELECT title FROM todos',
      '--json',
    )
    expect(JSON.parse(todos)).toEqual([{ title: 'write docs' }])
  })

  it('run a typed Kysely transaction', async () => {
    const out = await ok(process.execPath, ['kysely.ts'], { cwd: app() })
    expect(JSON.parse(out)).toEqual([
      { id: 1, owner: 'ann', balance: 70 },
      { id: 2, owner: 'bob', balance: 30 },
    ])
  })

  it('run drizzle-kit generate, then the migration and a transaction through @s3db/drizzle', async () => {
    await ok('npx', ['--no', '--', 'drizzle-kit', 'generate'], { cwd: app() })
    const out = await ok(process.execPath, ['drizzle.ts'], { cwd: app() })
    expect(JSON.parse(out)).toEqual([
      {
        id: 1,
        name: 'ann',
        posts: [
          { id: 1, userId: 1, title: 'first' },
          { id: 2, userId: 1, title: 'second' },
        ],
      },
    ])
  })

  it('type-check with tsc against the installed type declarations', async () => {
    // Every script of the project, the README quick start included.
    const r = await run('npx', ['--no', '--', 'tsc', '-p', 'tsconfig.json'], { cwd: app() })
    expect(r.stdout + r.stderr).toBe('')
    expect(r.code).toBe(0)
  })

  it('run the CLI: npx s3db --version, init, sql, status', async () => {
    const s3db = (...args: string[]) => s3dbIn(app(), {}, ...args)
    expect((await s3db('--version')).trim()).toBe(corePkg.version)
    expect(await s3db('init', './data/cli')).toContain('created database')
    expect(
      await s3db(
        'sql',
        './data/cli',
        'CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT)',
        '--write',
      ),
    ).toContain('committed at seq 1')
    await s3db('sql', './data/cli', "INSERT INTO notes (body) VALUES ('from the cli')", '--write')
    expect(JSON.parse(await s3db('sql', './data/cli', 'SELECT * FROM notes', '--json'))).toEqual([
      { id: 1, body: 'from the cli' },
    ])
    expect(await s3db('status', './data/cli')).toMatch(/^seq:\s+2$/m)
    // migrate loads @s3db/drizzle and drizzle-orm from the project at run time.
    await ok('npx', ['--no', '--', 'drizzle-kit', 'generate'], { cwd: app() })
    await s3db('init', './data/migrated')
    expect(await s3db('migrate', './data/migrated', '--drizzle', './drizzle')).toMatch(/applied/)
    const tables = await s3db(
      'sql',
      './data/migrated',
      "SELECT name FROM sqlite_master WHERE type = 'table' AND name IN ('users', 'posts') ORDER BY name",
      '--json',
    )
    expect(JSON.parse(tables)).toEqual([{ name: 'posts' }, { name: 'users' }])
  })
})

describe.skipIf(s3Skip)('installed packages, MinIO', () => {
  let env: NodeJS.ProcessEnv = {}
  let bucket = ''

  beforeAll(async () => {
    const endpoint = s3Endpoint()!
    const client = s3Client(endpoint)
    bucket = await freshBucket(client, 'outside')
    client.destroy()
    env = {
      AWS_ENDPOINT_URL: endpoint.endpoint,
      AWS_ACCESS_KEY_ID: endpoint.accessKeyId,
      AWS_SECRET_ACCESS_KEY: endpoint.secretAccessKey,
      AWS_REGION: endpoint.region,
      TEST_BUCKET: bucket,
    }
  })

  it('run the README quick start, whose database the CLI then reads', async () => {
    const out = await ok(process.execPath, ['quickstart-s3.ts'], { cwd: app(), env })
    expect(JSON.parse(out)).toEqual({
      id: '1',
      open: [{ id: 1, title: 'write docs', done: 0 }],
    })
    const target = `s3://${bucket}/myapp/db/`
    const todos = await s3dbIn(app(), env, 'sql', target, 'SELECT title FROM todos', '--json')
    expect(JSON.parse(todos)).toEqual([{ title: 'write docs' }])
  })

  it('run a typed Kysely transaction', async () => {
    const out = await ok(process.execPath, ['kysely.ts'], { cwd: app(), env })
    expect(JSON.parse(out)).toEqual([
      { id: 1, owner: 'ann', balance: 70 },
      { id: 2, owner: 'bob', balance: 30 },
    ])
  })

  it('run the drizzle-kit migration and a transaction through @s3db/drizzle', async () => {
    // ./drizzle is the folder drizzle-kit generated in the filesystem test above,
    // or generate it here when this test runs alone.
    await ok('npx', ['--no', '--', 'drizzle-kit', 'generate'], { cwd: app() })
    const out = await ok(process.execPath, ['drizzle.ts'], { cwd: app(), env })
    expect(JSON.parse(out)[0].posts.map((p: { title: string }) => p.title)).toEqual([
      'first',
      'second',
    ])
  })

  it('run the CLI: init, sql, status', async () => {
    const s3db = (...args: string[]) => s3dbIn(app(), env, ...args)
    const target = `s3://${bucket}/cli/`
    expect(await s3db('init', target)).toContain('created database')
    await s3db('sql', target, 'CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT)', '--write')
    await s3db('sql', target, "INSERT INTO notes (body) VALUES ('on minio')", '--write')
    expect(JSON.parse(await s3db('sql', target, 'SELECT body FROM notes', '--json'))).toEqual([
      { body: 'on minio' },
    ])
    expect(await s3db('status', target)).toMatch(/^seq:\s+2$/m)
  })
})
