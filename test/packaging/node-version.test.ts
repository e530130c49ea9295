/**
 * On a Node.js older than 22.12 everything stops early with a message naming the
 * version, instead of better-sqlite3 crashing the process later (Node 20 printed
 * "Ready" and then died with a segmentation fault). Runs the checks with a real old
 * Node: /usr/bin/node when it is older than 22.12 (S3DB_OLD_NODE names another).
 */
import { execFile, execFileSync } from 'node:child_process'
import { existsSync, readFileSync, realpathSync, writeFileSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { promisify } from 'node:util'
import { afterAll, describe, expect, it } from 'vitest'
import { isSupportedNode } from '../../packages/core/src/node-version.js'

const execFileP = promisify(execFile)
const ROOT = join(import.meta.dirname, '../..')

function findOldNode(): { node?: string; reason: string } {
  const candidate = process.env.S3DB_OLD_NODE ?? '/usr/bin/node'
  if (!existsSync(candidate)) return { reason: `${candidate} does not exist` }
  const version = execFileSync(candidate, ['--version'], { encoding: 'utf8' }).trim()
  if (isSupportedNode(version))
    return { reason: `${candidate} is ${version}, not older than 22.12` }
  return { node: candidate, reason: '' }
}
const old = findOldNode()
if (!old.node) console.log(`Node-version tests with an old Node SKIPPED: ${old.reason}`)

/** The npm the tests run with (npm's own CLI script), to run it under the old Node. */
function npmCli(): string {
  const which = execFileSync('sh', ['-c', 'command -v npm'], { encoding: 'utf8' }).trim()
  return join(dirname(realpathSync(which)), 'npm-cli.js')
}

async function runOld(args: string[], cwd: string): Promise<{ code: number; output: string }> {
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    PATH: `${dirname(old.node!)}:${process.env.PATH}`,
  }
  for (const k of Object.keys(env)) if (/^npm_/i.test(k)) delete env[k]
  try {
    const r = await execFileP(old.node!, args, { cwd, env, timeout: 60_000 })
    return { code: 0, output: r.stdout + r.stderr }
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string }
    return { code: e.code, output: e.stdout + e.stderr }
  }
}

const temps: string[] = []
afterAll(async () => {
  for (const dir of temps) await rm(dir, { recursive: true, force: true })
})

describe('isSupportedNode', () => {
  it('accepts 22.12 and later, refuses earlier', () => {
    expect(['22.12.0', 'v22.12.1', '23.0.0', '24.21.0'].map(isSupportedNode)).toEqual([
      true,
      true,
      true,
      true,
    ])
    expect(['22.11.9', 'v20.20.2', '18.0.0'].map(isSupportedNode)).toEqual([false, false, false])
  })
})

describe.skipIf(!old.node)('with an old Node', () => {
  it('importing @s3db/core throws UnsupportedRuntimeError naming 22.12', async () => {
    const core = join(ROOT, 'packages/core/dist/index.js')
    const script = `import(${JSON.stringify(core)}).then(() => console.log('LOADED'), (e) => console.log(e.code, e.message))`
    const r = await runOld(['--input-type=module', '-e', script], ROOT)
    expect(r.output).toContain('UnsupportedRuntime @s3db/core needs Node.js 22.12.0 or newer')
    expect(r.output).not.toContain('LOADED')
  })

  it('npm test and npm start stop before building, naming 22.12', async () => {
    // scripts/check-node.cjs is the first command of both (manifests.test.ts checks that).
    const r = await runOld([join(ROOT, 'scripts/check-node.cjs')], ROOT)
    expect(r.code).toBe(1)
    expect(r.output).toContain('s3db needs Node.js 22.12 or newer, but this is Node.js')
  })

  it('the s3db command stops with a hint naming 22.12', async () => {
    const r = await runOld([join(ROOT, 'packages/cli/bin/s3db.js'), '--version'], ROOT)
    expect(r.code).toBe(1)
    expect(r.output).toContain('s3db needs Node 22.12 or newer')
  })

  it('npm install with the repository .npmrc fails with EBADENGINE naming >=22.12', async () => {
    // The root package's engines and .npmrc, in a project with nothing to download.
    const dir = await mkdtemp(join(tmpdir(), 's3db-old-node-'))
    temps.push(dir)
    const root = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8'))
    writeFileSync(
      join(dir, 'package.json'),
      JSON.stringify({ name: 'engine-probe', private: true, engines: root.engines }),
    )
    writeFileSync(join(dir, '.npmrc'), readFileSync(join(ROOT, '.npmrc')))
    const r = await runOld([npmCli(), 'install', '--no-audit', '--no-fund'], dir)
    expect(r.code).not.toBe(0)
    expect(r.output).toContain('EBADENGINE')
    expect(r.output).toContain('"node":">=22.12"')
  })
})
