/**
 * Runs the BUILT CLI (packages/cli/dist/bin.js) as a child process, as a user
 * would. Build first: `npx turbo run build --filter=@s3db/cli`.
 */
import { spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import Database from 'better-sqlite3'
import { afterAll } from 'vitest'

export const BIN = fileURLToPath(new URL('../dist/bin.js', import.meta.url))

if (!existsSync(BIN)) {
  throw new Error(`${BIN} is missing: build the CLI first (npx turbo run build --filter=@s3db/cli)`)
}

export interface Run {
  code: number | null
  stdout: string
  stderr: string
}

export interface RunOptions {
  env?: NodeJS.ProcessEnv
  input?: string
  cwd?: string
}

/** Environment variables of the test process that must not leak into the CLI under test. */
const SCRUB = /^(AWS_|S3DB_)/

export function cli(args: string[], options: RunOptions = {}): Promise<Run> {
  const base = Object.fromEntries(Object.entries(process.env).filter(([k]) => !SCRUB.test(k)))
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], {
      cwd: options.cwd,
      env: { ...base, ...options.env },
      stdio: ['pipe', 'pipe', 'pipe'],
    })
    let stdout = ''
    let stderr = ''
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      stdout += d
    })
    child.stderr.setEncoding('utf8').on('data', (d: string) => {
      stderr += d
    })
    child.on('error', reject)
    child.on('close', (code) => resolve({ code, stdout, stderr }))
    child.stdin.end(options.input ?? '')
  })
}

/** A temp dir removed after the test file. */
export async function tempDir(label: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), `s3db-cli-${label}-`))
  afterAll(() => rm(dir, { recursive: true, force: true }))
  return dir
}

/** Creates a SQLite file with a `users` table holding the given names (ids from 1). */
export function makeSqlite(path: string, names: string[]): void {
  const db = new Database(path)
  db.exec('CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT NOT NULL)')
  const insert = db.prepare('INSERT INTO users (id, name) VALUES (?, ?)')
  for (const [i, n] of names.entries()) insert.run(i + 1, n)
  db.close()
}

/** Runs SQL on a local SQLite file, as someone editing a pulled copy would. */
export function editSqlite(path: string, sql: string): void {
  const db = new Database(path)
  db.exec(sql)
  db.close()
}

export function userNames(path: string): string[] {
  const db = new Database(path, { readonly: true })
  try {
    return (db.prepare('SELECT name FROM users ORDER BY id').all() as { name: string }[]).map(
      (r) => r.name,
    )
  } finally {
    db.close()
  }
}

/** Parses stdout as JSON, with the output in the failure message. */
export function json<T = unknown>(run: Run): T {
  try {
    return JSON.parse(run.stdout) as T
  } catch {
    throw new Error(`stdout is not JSON (exit ${run.code}):\n${run.stdout}\nstderr:\n${run.stderr}`)
  }
}

/** A one-line error with a hint, and no stack trace. */
export function expectCleanError(run: Run): void {
  const lines = run.stderr.trim().split('\n')
  if (!lines[0]?.startsWith('s3db: error: ')) {
    throw new Error(`expected "s3db: error: ..." on stderr, got:\n${run.stderr}`)
  }
  if (/\n\s+at /.test(run.stderr))
    throw new Error(`stack trace printed without --debug:\n${run.stderr}`)
}
