/**
 * examples/basic/README.md's commands, run as written (from the repository root,
 * after the build `npm test` does), on a temp filesystem store via S3DB_DATA_DIR.
 * The README once said `npm start`, which at the root runs the Next.js demo.
 */
import { execFile } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { afterAll, expect, it } from 'vitest'

const execFileP = promisify(execFile)
const ROOT = join(import.meta.dirname, '../..')
const readme = readFileSync(join(ROOT, 'examples/basic/README.md'), 'utf8')

let dir = ''
afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true })
})

async function run(cmd: string, args: string[], env: NodeJS.ProcessEnv): Promise<string> {
  const base: NodeJS.ProcessEnv = { ...process.env }
  for (const k of Object.keys(base)) if (/^(npm_|AWS_|S3DB_)/i.test(k)) delete base[k]
  const { stdout } = await execFileP(cmd, args, { cwd: ROOT, env: { ...base, ...env } })
  return stdout
}

it('runs the documented commands: node index.ts, npm start -w, and the CLI on its database', async () => {
  for (const documented of [
    'node examples/basic/index.ts "hello there"',
    'npm start -w @s3db/example-basic -- "hello again"',
    'npm run s3db -- sql .data/store/guestbook "SELECT * FROM entries"',
  ]) {
    expect(readme).toContain(documented)
  }
  dir = await mkdtemp(join(tmpdir(), 's3db-basic-'))
  const env = { S3DB_DATA_DIR: join(dir, 'store') }
  expect(await run('node', ['examples/basic/index.ts', 'hello there'], env)).toContain(
    'you wrote entry #1',
  )
  expect(
    await run('npm', ['start', '-w', '@s3db/example-basic', '--', 'hello again'], env),
  ).toContain('you wrote entry #2')
  const rows = await run(
    'npm',
    [
      'run',
      '--silent',
      's3db',
      '--',
      'sql',
      join(dir, 'store/guestbook'),
      'SELECT message FROM entries ORDER BY id',
      '--json',
    ],
    {},
  )
  expect(JSON.parse(rows)).toEqual([{ message: 'hello there' }, { message: 'hello again' }])
})
