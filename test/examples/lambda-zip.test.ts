/**
 * examples/lambda's deployable zips, outside the repository: `node
 * examples/lambda/package.ts --arch x64|arm64` builds them; the x64 zip is
 * unpacked into an empty temp directory (no node_modules of the repository
 * reachable) and its handler is imported and called the way the Lambda runtime
 * does (`import`, then `handler(event, context)`), in fresh processes with an
 * empty TMPDIR, cold then warm, on the filesystem store and on MinIO. The arm64
 * zip cannot run on this machine: every ELF file in it must be for aarch64.
 */
import { execFile } from 'node:child_process'
import { closeSync, existsSync, openSync, readdirSync, readSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { dirname, join, relative, resolve } from 'node:path'
import { promisify } from 'node:util'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { freshBucket, s3Client, s3Endpoint, s3SkipReason } from '../support/s3.js'

const execFileP = promisify(execFile)
const ROOT = resolve(import.meta.dirname, '../..')
const PACKAGE_SCRIPT = join(ROOT, 'examples/lambda/package.ts')
const s3Skip = s3SkipReason()
if (s3Skip) console.log(`lambda zip on MinIO SKIPPED: ${s3Skip}`)

const EM_X86_64 = 62
const EM_AARCH64 = 183

interface Packaged {
  zip: string
  zipBytes: number
  unpackedBytes: number
  nodeFiles: string[]
}

const temps: string[] = []
async function temp(label: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), `s3db-${label}-`))
  temps.push(dir)
  return dir
}
afterAll(async () => {
  for (const dir of temps) await rm(dir, { recursive: true, force: true })
})

const zips: Partial<Record<'x64' | 'arm64', Packaged>> = {}
beforeAll(async () => {
  const out = await temp('lambda-zips')
  // One after the other: both run npm install in their own staging directory.
  for (const arch of ['x64', 'arm64'] as const) {
    const { stdout } = await execFileP(
      process.execPath,
      [PACKAGE_SCRIPT, '--arch', arch, '--out', out, '--json'],
      { timeout: 120_000 },
    )
    zips[arch] = JSON.parse(stdout.trim().split('\n').at(-1)!) as Packaged
    const p = zips[arch]!
    console.log(
      `lambda zip ${arch}: ${(p.zipBytes / 1024 / 1024).toFixed(2)} MB zipped, ${(p.unpackedBytes / 1024 / 1024).toFixed(2)} MB unpacked`,
    )
  }
}, 240_000)

async function unzip(zip: string, label: string): Promise<string> {
  const dir = await temp(label)
  await execFileP('unzip', ['-q', zip, '-d', dir])
  return dir
}

function* files(dir: string): Generator<string> {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name)
    if (entry.isDirectory()) yield* files(path)
    else yield path
  }
}

/** The ELF machine of a file, or undefined when it is not an ELF file. */
function elfMachine(path: string): number | undefined {
  const fd = openSync(path, 'r')
  try {
    const head = Buffer.alloc(20)
    const n = readSync(fd, head, 0, 20, 0)
    if (n < 20 || head.readUInt32BE(0) !== 0x7f454c46) return undefined
    return head.readUInt16LE(18) // e_machine (little-endian ELF, as both targets are)
  } finally {
    closeSync(fd)
  }
}

function elfReport(dir: string): { path: string; machine: number | undefined }[] {
  return [...files(dir)]
    .map((f) => ({ path: relative(dir, f), machine: elfMachine(f) }))
    .filter((f) => f.machine !== undefined || f.path.endsWith('.node'))
}

/** Only PATH and HOME from this process: no AWS, s3db, npm, vitest or Node options. */
function lambdaEnv(tmp: string, extra: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  return { PATH: process.env.PATH, HOME: process.env.HOME, TMPDIR: tmp, ...extra }
}

interface InvokeReport {
  importMs: number
  results: Array<Record<string, unknown> & { invokeMs: number }>
  /** Entries in TMPDIR while the container was warm (the replica). */
  tmpEntries: number
}

/**
 * One container: a fresh process imports handler.mjs (init phase: the open) and
 * calls handler(event, context) for each event in order, like the runtime does.
 */
async function container(
  dir: string,
  env: NodeJS.ProcessEnv,
  events: Array<{ event: unknown; requestId: string }>,
): Promise<InvokeReport> {
  const tmp = await temp('lambda-tmp')
  const driver = `
    import { readdirSync } from 'node:fs'
    const events = JSON.parse(process.env.EVENTS)
    const t0 = performance.now()
    const mod = await import(new URL('./handler.mjs', 'file://' + process.cwd() + '/').href)
    const importMs = performance.now() - t0
    const results = []
    for (const { event, requestId } of events) {
      const t = performance.now()
      const result = await mod.handler(event, { awsRequestId: requestId, functionName: 'test' })
      results.push({ ...result, invokeMs: performance.now() - t })
    }
    const tmpEntries = readdirSync(process.env.TMPDIR).length
    await mod.shutdown()
    console.log(JSON.stringify({ importMs, results, tmpEntries }))
  `
  const { stdout } = await execFileP(process.execPath, ['--input-type=module', '--eval', driver], {
    cwd: dir,
    env: lambdaEnv(tmp, { ...env, EVENTS: JSON.stringify(events) }),
    timeout: 60_000,
  })
  return JSON.parse(stdout.trim().split('\n').at(-1)!) as InvokeReport
}

async function runCounter(dir: string, env: NodeJS.ProcessEnv, label: string): Promise<void> {
  const counter = `zip-${Date.now().toString(36)}`
  const first = await container(dir, env, [
    { event: { op: 'increment', counter }, requestId: 'req-1' },
    { event: { op: 'increment', counter, by: 2 }, requestId: 'req-2' },
    { event: { op: 'increment', counter }, requestId: 'req-1' }, // a retry
    { event: { op: 'get', counter }, requestId: 'req-3' },
  ])
  const [cold, warm, retry, get] = first.results
  expect(cold).toMatchObject({ value: 1, coldStart: true, duplicate: false })
  expect(warm).toMatchObject({ value: 3, coldStart: false, duplicate: false })
  expect(retry).toMatchObject({ value: 1, duplicate: true })
  expect(get).toMatchObject({ value: 3, invocations: 2 })
  // The replica lived in the container's TMPDIR (Lambda's /tmp).
  expect(first.tmpEntries).toBeGreaterThan(0)

  // A new container (new process, empty TMPDIR) downloads what the first committed.
  const second = await container(dir, env, [
    { event: { op: 'get', counter }, requestId: 'req-4' },
    { event: { op: 'increment', counter }, requestId: 'req-5' },
  ])
  expect(second.results[0]).toMatchObject({ value: 3, invocations: 2, coldStart: true })
  expect(second.results[1]).toMatchObject({ value: 4, coldStart: false })
  const ms = (n: number) => `${Math.round(n)} ms`
  console.log(
    `lambda zip x64 on ${label}: import+open ${ms(first.importMs)}, cold invoke ${ms(cold!.invokeMs)}, warm invoke ${ms(warm!.invokeMs)}; second container import+open ${ms(second.importMs)}, first invoke ${ms(second.results[0]!.invokeMs)}`,
  )
}

describe('lambda zip, x64: runs outside the repository', () => {
  let dir: string
  beforeAll(async () => {
    dir = await unzip(zips.x64!.zip, 'lambda-x64')
    // Nothing above the unpacked function can supply a module.
    for (let d = dir; d !== dirname(d); d = dirname(d)) {
      expect(existsSync(join(dirname(d), 'node_modules')), `${dirname(d)}/node_modules`).toBe(false)
    }
  })

  it('holds the bundled handler and the linux-x64 binaries of both native modules, nothing else native', () => {
    const top = readdirSync(dir).sort()
    expect(top).toEqual(['handler.mjs', 'node_modules'])
    // Only the native modules are installed; the JavaScript is in handler.mjs.
    expect(readdirSync(join(dir, 'node_modules')).sort()).toEqual([
      '@koromix',
      'better-sqlite3',
      'koffi',
    ])
    const elves = elfReport(dir)
    expect(elves.map((e) => e.path).sort()).toEqual([
      'node_modules/@koromix/koffi-linux-x64/linux_x64/koffi.node',
      'node_modules/better-sqlite3/prebuilds/linux-x64.node',
    ])
    for (const e of elves) expect(e.machine, e.path).toBe(EM_X86_64)
  })

  it('on the filesystem store: cold, warm, retry, second container', {
    timeout: 90_000,
  }, async () => {
    const store = await temp('lambda-store')
    await runCounter(dir, { S3DB_DATA_DIR: store }, 'the filesystem store')
  })

  it.skipIf(s3Skip)(
    'on MinIO: cold, warm, retry, second container',
    { timeout: 90_000 },
    async () => {
      const endpoint = s3Endpoint()!
      const bucket = await freshBucket(s3Client(endpoint), 'lambda-zip')
      await runCounter(
        dir,
        {
          S3DB_URL: `s3://${bucket}/counters/`,
          AWS_ENDPOINT_URL: endpoint.endpoint,
          AWS_ACCESS_KEY_ID: endpoint.accessKeyId,
          AWS_SECRET_ACCESS_KEY: endpoint.secretAccessKey,
          AWS_REGION: endpoint.region,
        },
        'MinIO',
      )
    },
  )
})

describe('lambda zip, arm64', () => {
  it('every native binary is an aarch64 ELF, for both native modules, and nothing is for x86-64', async () => {
    const dir = await unzip(zips.arm64!.zip, 'lambda-arm64')
    const elves = elfReport(dir)
    expect(elves.map((e) => e.path).sort()).toEqual([
      'node_modules/@koromix/koffi-linux-arm64/linux_arm64/koffi.node',
      'node_modules/better-sqlite3/prebuilds/linux-arm64.node',
    ])
    for (const e of elves) expect(e.machine, e.path).toBe(EM_AARCH64)
    expect(elves.some((e) => e.machine === EM_X86_64)).toBe(false)
    expect(readdirSync(join(dir, 'node_modules', '@koromix'))).toEqual(['koffi-linux-arm64'])
  })
})
