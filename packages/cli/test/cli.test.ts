/** Store-independent behaviour of the built CLI: help, usage errors, migrate validation. */
import { mkdir } from 'node:fs/promises'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { cli, expectCleanError, tempDir } from './helpers.js'

const COMMANDS = [
  'init',
  'pull',
  'push',
  'status',
  'sql',
  'shell',
  'compact',
  'gc',
  'doctor',
  'migrate',
]

describe('s3db CLI usage', () => {
  it('lists every command in the main help; no command is a usage error', async () => {
    const help = await cli(['--help'])
    expect(help.code).toBe(0)
    for (const c of COMMANDS) expect(help.stdout).toMatch(new RegExp(`^  ${c} `, 'm'))
    const none = await cli([])
    expect(none.code).toBe(2)
  })

  it('prints --help for every command, with exit 0', async () => {
    for (const c of COMMANDS) {
      const r = await cli([c, '--help'])
      expect(r.code, c).toBe(0)
      expect(r.stdout).toMatch(new RegExp(`^Usage: s3db ${c} `))
      expect(r.stdout).toMatch(/--debug/)
    }
  })

  it('prints the version', async () => {
    const r = await cli(['--version'])
    expect(r.stdout.trim()).toMatch(/^\d+\.\d+\.\d+$/)
  })

  it('exits 2 on unknown commands, unknown options and missing arguments', async () => {
    for (const [args, message] of [
      [['frobnicate'], /unknown command "frobnicate"/],
      [['status', './x/db', '--frob'], /Unknown option '--frob'\n/],
      [['status', './x/db', '--jsn'], /Unknown option '--jsn'; did you mean --json\?/],
      [['gc', './x/db', '--dryrun'], /did you mean --dry-run\?/],
      [['stauts', './x/db'], /unknown command "stauts"; did you mean status\?/],
      [['status'], /missing arguments/],
      [['pull', './x/db'], /missing -o FILE/],
      [['push', './x/db'], /missing -f FILE/],
      [['status', './x/db', 'extra'], /unexpected argument "extra"/],
      [['sql', './x/db', 'SELECT 1', '--json', '--csv'], /cannot be combined/],
      [['sql', './x/db', 'BEGIN; SELECT 1; ROLLBACK'], /not allowed here/],
    ] as const) {
      const r = await cli([...args])
      expect(r.code, `${args.join(' ')}: ${r.stderr}`).toBe(2)
      expectCleanError(r)
      expect(r.stderr).toMatch(message)
      expect(r.stderr).toMatch(/Run 's3db .*--help' for usage/)
    }
  })

  it('prints paths whole even when a credential is part of them', async () => {
    const dir = await tempDir('redact')
    const missing = join(dir, 'minioadmin-data', 'test', 'db')
    const r = await cli(['status', missing], {
      env: { AWS_ACCESS_KEY_ID: 'test', AWS_SECRET_ACCESS_KEY: 'minioadmin' },
    })
    expect(r.code).toBe(1)
    expectCleanError(r)
    expect(r.stderr).toContain(`directory ${join(dir, 'minioadmin-data', 'test')} does not exist`)
    expect(r.stderr).not.toContain('[redacted]')
  })

  it('migrate validates its arguments before touching the store', async () => {
    const dir = await tempDir('migrate')
    const t = join(dir, 'never', 'db')
    const notDrizzle = join(dir, 'plain')
    await mkdir(notDrizzle)
    for (const [args, message] of [
      [['migrate', t], /exactly one of --drizzle DIR or --kysely DIR/],
      [['migrate', t, '--drizzle', dir, '--kysely', dir], /exactly one of/],
      [['migrate', t, '--kysely', join(dir, 'missing')], /does not exist or is not a directory/],
      [['migrate', t, '--drizzle', notDrizzle], /not a drizzle-kit migrations folder/],
    ] as const) {
      const r = await cli([...args])
      expect(r.code, `${args.join(' ')}: ${r.stderr}`).toBe(2)
      expect(r.stderr).toMatch(message)
    }
  })
})
