/**
 * The CLI as the README tells someone with a clone to run it: `npm run s3db -- ...`
 * from the repository root after `npm ci && npm run build`. It must run the clone's
 * own build and never ask the registry (`npx s3db` asked for a registry package named
 * s3db, because the bin pointed at dist/ and was not linked at `npm ci` time). In CI,
 * a fresh clone, this is exactly the documented situation.
 */
import { execFile } from 'node:child_process'
import { cpSync, readFileSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { afterAll, describe, expect, it } from 'vitest'

const execFileP = promisify(execFile)
const ROOT = join(import.meta.dirname, '../..')
const version = JSON.parse(readFileSync(join(ROOT, 'packages/cli/package.json'), 'utf8')).version

/** Runs a command like a user's shell would: no npm variables of this run; npm offline, so any registry request fails. */
async function sh(cmd: string, args: string[], cwd = ROOT) {
  const env: NodeJS.ProcessEnv = { ...process.env, npm_config_offline: 'true' }
  for (const k of Object.keys(env)) if (/^npm_(?!config_offline$)/i.test(k)) delete env[k]
  for (const k of Object.keys(env)) if (/^(AWS_|S3DB_)/.test(k)) delete env[k]
  try {
    const r = await execFileP(cmd, args, { cwd, env, timeout: 60_000 })
    return { code: 0, stdout: r.stdout, stderr: r.stderr }
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string }
    return { code: e.code, stdout: e.stdout, stderr: e.stderr }
  }
}

const temps: string[] = []
afterAll(async () => {
  for (const dir of temps) await rm(dir, { recursive: true, force: true })
})

describe('the CLI from a clone', () => {
  it('is documented as npm run s3db -- from the repository root', () => {
    const readme = readFileSync(join(ROOT, 'README.md'), 'utf8')
    expect(readme).toContain('npm run s3db -- --help')
    expect(readme).toContain('npm run s3db -- status examples/nextjs/.data/store/board')
    expect(JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')).scripts.s3db).toBe(
      'node packages/cli/bin/s3db.js',
    )
  })

  it('npm run s3db -- --help and --version run the local build, offline', async () => {
    const help = await sh('npm', ['run', 's3db', '--', '--help'])
    expect(help.code).toBe(0)
    expect(help.stdout).toMatch(/init/)
    const v = await sh('npm', ['run', '--silent', 's3db', '--', '--version'])
    expect(v).toMatchObject({ code: 0, stdout: `${version}\n` })
  })

  it('npm run s3db -- init, sql and status on a filesystem database, flags included', async () => {
    const dir = await mkdtemp(join(tmpdir(), 's3db-clone-cli-'))
    temps.push(dir)
    const db = join(dir, 'store/board')
    const s3db = (...args: string[]) => sh('npm', ['run', '--silent', 's3db', '--', ...args])
    expect((await s3db('init', db)).code).toBe(0)
    await s3db('sql', db, 'CREATE TABLE ideas (id INTEGER PRIMARY KEY, title TEXT)', '--write')
    const status = await s3db('status', db, '--json')
    expect(status.code).toBe(0)
    expect(JSON.parse(status.stdout)).toMatchObject({ seq: 1 })
  })

  it('a clone without a build says to build, instead of a module-not-found trace', async () => {
    // The committed launcher, without a dist/ next to it.
    const dir = await mkdtemp(join(tmpdir(), 's3db-unbuilt-'))
    temps.push(dir)
    cpSync(join(ROOT, 'packages/cli/bin'), join(dir, 'bin'), { recursive: true })
    cpSync(join(ROOT, 'packages/cli/package.json'), join(dir, 'package.json'))
    const r = await sh(process.execPath, [join(dir, 'bin/s3db.js'), '--version'], dir)
    expect(r.code).toBe(1)
    expect(r.stderr).toContain('the CLI is not built')
    expect(r.stderr).toContain('npm run build')
  })
})
