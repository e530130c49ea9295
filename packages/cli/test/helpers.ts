/**
 * Runs the BUILT CLI (packages/cli/dist/bin.js) as a child process, as a user
 * would. Build first: `npx turbo run build --filter=@s3db/cli`.
 */
import { spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises'
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

/** The environment a CLI under test gets: this process's, without AWS_/S3DB_, plus `extra`. */
export function cliEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const base = Object.fromEntries(Object.entries(process.env).filter(([k]) => !SCRUB.test(k)))
  return { ...base, ...extra }
}

export function cli(args: string[], options: RunOptions = {}): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], {
      cwd: options.cwd,
      env: cliEnv(options.env),
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

export interface Spawned {
  pid: number
  /** Writes to the CLI's stdin. */
  write(text: string): void
  /** Sends a signal to the CLI process (not its children), as `kill -INT pid` does. */
  signal(name: NodeJS.Signals): void
  /** Output so far. */
  output(): Run
  /** Exit code, output, and ms from the last signal sent to the exit. */
  done: Promise<Run & { msAfterSignal: number }>
}

/** Starts the CLI and leaves it running (stdin open unless `input` is given). */
export function spawnCli(args: string[], options: RunOptions = {}): Spawned {
  const child = spawn(process.execPath, [BIN, ...args], {
    cwd: options.cwd,
    env: cliEnv(options.env),
    stdio: ['pipe', 'pipe', 'pipe'],
  })
  let stdout = ''
  let stderr = ''
  let signalledAt = Date.now()
  child.stdout.setEncoding('utf8').on('data', (d: string) => {
    stdout += d
  })
  child.stderr.setEncoding('utf8').on('data', (d: string) => {
    stderr += d
  })
  if (options.input !== undefined) child.stdin.end(options.input)
  return {
    pid: child.pid!,
    write: (text) => child.stdin.write(text),
    signal: (name) => {
      signalledAt = Date.now()
      process.kill(child.pid!, name)
    },
    output: () => ({ code: child.exitCode, stdout, stderr }),
    done: new Promise((resolve, reject) => {
      child.on('error', reject)
      child.on('close', (code) =>
        resolve({ code, stdout, stderr, msAfterSignal: Date.now() - signalledAt }),
      )
    }),
  }
}

/** Linux: every process below `pid` (from /proc), with the CPU time each has used (ms). */
export async function descendants(pid: number): Promise<{ pid: number; cpuMs: number }[]> {
  const all: { pid: number; ppid: number; cpuMs: number }[] = []
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue
    const stat = await readFile(`/proc/${entry}/stat`, 'utf8').catch(() => '')
    if (!stat) continue
    // pid (comm) state ppid ...: comm may hold spaces, so split after the last ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    // utime and stime, in clock ticks (USER_HZ, 100 on Linux).
    const ticks = Number(fields[11]) + Number(fields[12])
    all.push({ pid: Number(entry), ppid: Number(fields[1]), cpuMs: ticks * 10 })
  }
  const found: { pid: number; cpuMs: number }[] = []
  const parents = new Set([pid])
  for (let grew = true; grew; ) {
    grew = false
    for (const p of all) {
      if (parents.has(p.ppid) && !parents.has(p.pid)) {
        parents.add(p.pid)
        found.push({ pid: p.pid, cpuMs: p.cpuMs })
        grew = true
      }
    }
  }
  return found
}

/**
 * Waits until a process below `pid` (the SQL engine) has used `cpuMs` of CPU:
 * far more than opening a small database takes, so a statement is running.
 */
export async function waitForBusyDescendant(
  pid: number,
  cpuMs: number,
  timeoutMs = 60_000,
): Promise<number> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const busy = (await descendants(pid)).find((c) => c.cpuMs >= cpuMs)
    if (busy) return busy.pid
    if (Date.now() > deadline) {
      throw new Error(`no process below ${pid} used ${cpuMs} ms of CPU within ${timeoutMs} ms`)
    }
    await new Promise((r) => setTimeout(r, 50))
  }
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
