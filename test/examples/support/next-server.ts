/**
 * Builds and serves examples/nextjs for tests: `next build` once, then `next
 * start` processes on free 127.0.0.1 ports with their own store settings,
 * stopped by PID.
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process'
import { createServer } from 'node:net'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'

export const appDir = fileURLToPath(new URL('../../../examples/nextjs/', import.meta.url))
const nextBin = fileURLToPath(new URL('../../../node_modules/next/dist/bin/next', import.meta.url))
const execFileP = promisify(execFile)

/** vitest sets NODE_ENV=test, which Next.js rejects for builds and production servers. */
function nextEnv(extra: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  return { ...process.env, NODE_ENV: 'production', NEXT_TELEMETRY_DISABLED: '1', ...extra }
}

/** `next build` in the app folder; resolves with how long it took. */
export async function buildApp(): Promise<number> {
  const started = Date.now()
  try {
    await execFileP(process.execPath, [nextBin, 'build'], {
      cwd: appDir,
      env: nextEnv({}),
      timeout: 300_000,
      maxBuffer: 16 * 1024 * 1024,
    })
  } catch (err) {
    const e = err as { stdout?: string; stderr?: string }
    throw new Error(`next build failed:\n${e.stdout ?? ''}\n${e.stderr ?? ''}`)
  }
  return Date.now() - started
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer()
    srv.once('error', reject)
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number }
      srv.close(() => resolve(port))
    })
  })
}

export interface AppServer {
  url: string
  pid: number
  /** Everything the server printed so far. */
  log(): string
  stop(): Promise<void>
}

/**
 * Starts `next start` with `env` (store settings) and waits until the board
 * answers (or, with `ready: 'listening'`, until the server answers at all: for
 * a server that is expected not to reach its database).
 */
export async function startApp(
  env: NodeJS.ProcessEnv,
  options: { ready?: 'board' | 'listening' } = {},
): Promise<AppServer> {
  const port = await freePort()
  return startServer({
    name: 'next start',
    args: [nextBin, 'start', '-H', '127.0.0.1', '-p', String(port)],
    cwd: appDir,
    env: nextEnv({ PORT: String(port), ...env }),
    port,
    ready: options.ready,
  })
}

/**
 * Starts `node <args>` in `cwd` with exactly `env`, serving on 127.0.0.1:`port`,
 * and waits until the board answers (see {@link startApp}); stopped by PID.
 */
export async function startServer(spec: {
  name: string
  args: string[]
  cwd: string
  env: NodeJS.ProcessEnv
  port: number
  ready?: 'board' | 'listening' | undefined
}): Promise<AppServer> {
  const child: ChildProcess = spawn(process.execPath, spec.args, {
    cwd: spec.cwd,
    env: spec.env,
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let output = ''
  child.stdout!.setEncoding('utf8').on('data', (s: string) => {
    output += s
  })
  child.stderr!.setEncoding('utf8').on('data', (s: string) => {
    output += s
  })
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
  const server: AppServer = {
    url: `http://127.0.0.1:${spec.port}/`,
    pid: child.pid!,
    log: () => output,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return
      process.kill(child.pid!, 'SIGTERM')
      const timer = setTimeout(
        () => child.exitCode === null && process.kill(child.pid!, 'SIGKILL'),
        5_000,
      )
      await exited
      clearTimeout(timer)
    },
  }
  const deadline = Date.now() + 60_000
  for (;;) {
    if (child.exitCode !== null)
      throw new Error(`${spec.name} exited with ${child.exitCode}:\n${output}`)
    try {
      // 200 once the database is open and migrated; 503 when it cannot be read.
      const res = await fetch(`${server.url}api/board`)
      if (res.ok || (spec.ready === 'listening' && res.status === 503)) return server
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      await server.stop()
      throw new Error(`${spec.name} did not answer within 60 s:\n${output}`)
    }
    await new Promise((r) => setTimeout(r, 150))
  }
}

export interface BoardJson {
  ideas: Array<{ id: number; title: string; author: string; votes: number; done: boolean }>
  recent: Array<{ actor: string; kind: string; ideaTitle: string }>
  totals: { ideas: number; votes: number; actions: number }
  seq: number
}

export async function board(server: AppServer): Promise<BoardJson> {
  const res = await fetch(`${server.url}api/board`)
  if (!res.ok) throw new Error(`GET /api/board: ${res.status}`)
  return (await res.json()) as BoardJson
}
