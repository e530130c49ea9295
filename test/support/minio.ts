/**
 * Provides a real S3 API for tests: an endpoint given in S3DB_TEST_S3_ENDPOINT, a
 * MinIO container when a Docker engine answers, or a `minio` server binary (on
 * PATH, in S3DB_MINIO_BIN, cached, or built with `go install` from a pinned commit).
 * Servers started here listen on 127.0.0.1 only and are stopped by PID.
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process'
import { existsSync, readFileSync } from 'node:fs'
import { mkdir, mkdtemp, rm } from 'node:fs/promises'
import { createServer } from 'node:net'
import { homedir, tmpdir } from 'node:os'
import { delimiter, join } from 'node:path'
import { promisify } from 'node:util'

/** The MinIO commit CI builds (module pseudo-version for `go install`), shared with .ci/minio.sh. */
export const MINIO_VERSION = readFileSync(
  new URL('../../.ci/minio.version', import.meta.url),
  'utf8',
).trim()
const MINIO_IMAGE = 'minio/minio:RELEASE.2025-09-07T16-13-09Z'

/** Connection details of an S3 endpoint for tests. */
export interface S3Endpoint {
  endpoint: string
  accessKeyId: string
  secretAccessKey: string
  region: string
  /** How it was provided, for the log. */
  source: string
}

export interface RunningS3 extends S3Endpoint {
  stop(): Promise<void>
}

const execFileP = promisify(execFile)

export function minioCacheDir(): string {
  const base =
    process.env.S3DB_CACHE ??
    join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 's3db-ci')
  return join(base, `minio-${MINIO_VERSION.split('-').pop()}`)
}

/** Finds a usable S3 endpoint, starting one if needed; undefined (with a reason) if none. */
export async function provideS3(
  log: (msg: string) => void,
): Promise<RunningS3 | { unavailable: string }> {
  const given = process.env.S3DB_TEST_S3_ENDPOINT
  if (given) {
    return {
      endpoint: given,
      accessKeyId:
        process.env.S3DB_TEST_S3_ACCESS_KEY ?? process.env.AWS_ACCESS_KEY_ID ?? 'minioadmin',
      secretAccessKey:
        process.env.S3DB_TEST_S3_SECRET_KEY ?? process.env.AWS_SECRET_ACCESS_KEY ?? 'minioadmin',
      region: process.env.AWS_REGION ?? 'us-east-1',
      source: 'S3DB_TEST_S3_ENDPOINT',
      stop: async () => {},
    }
  }
  if (await dockerAnswers()) {
    try {
      return await startContainer()
    } catch (err) {
      log(
        `s3: Docker answered but the MinIO container failed (${(err as Error).message}); trying a binary`,
      )
    }
  }
  const started = Date.now()
  const bin = await findOrBuildMinio(log)
  if (!bin) {
    return {
      unavailable:
        'no S3 endpoint: set S3DB_TEST_S3_ENDPOINT, start a Docker engine, put `minio` on PATH, or install Go so the harness can build it',
    }
  }
  log(`s3: minio binary ready in ${Date.now() - started} ms (${bin})`)
  return startBinary(bin)
}

async function dockerAnswers(): Promise<boolean> {
  if (!process.env.DOCKER_HOST && !existsSync('/var/run/docker.sock')) return false
  try {
    const { getContainerRuntimeClient } = await import('testcontainers')
    await getContainerRuntimeClient()
    return true
  } catch {
    return false
  }
}

async function startContainer(): Promise<RunningS3> {
  const { GenericContainer, Wait } = await import('testcontainers')
  const container = await new GenericContainer(MINIO_IMAGE)
    .withEnvironment({ MINIO_ROOT_USER: 'minioadmin', MINIO_ROOT_PASSWORD: 'minioadmin' })
    .withCommand(['server', '/data'])
    .withExposedPorts(9000)
    .withWaitStrategy(Wait.forHttp('/minio/health/live', 9000))
    .start()
  return {
    endpoint: `http://${container.getHost()}:${container.getMappedPort(9000)}`,
    accessKeyId: 'minioadmin',
    secretAccessKey: 'minioadmin',
    region: 'us-east-1',
    source: `testcontainers ${MINIO_IMAGE}`,
    stop: async () => {
      await container.stop()
    },
  }
}

function onPath(name: string): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    const candidate = join(dir, name)
    if (dir && existsSync(candidate)) return candidate
  }
  return undefined
}

/** A minio binary: S3DB_MINIO_BIN, the cache, PATH, or built with Go into the cache. */
export async function findOrBuildMinio(log: (msg: string) => void): Promise<string | undefined> {
  if (process.env.S3DB_MINIO_BIN && existsSync(process.env.S3DB_MINIO_BIN))
    return process.env.S3DB_MINIO_BIN
  const dir = minioCacheDir()
  const cached = join(dir, 'minio')
  if (existsSync(cached)) return cached
  const path = onPath('minio')
  if (path) return path
  const go = onPath('go')
  if (!go) return undefined
  log(
    `s3: building MinIO ${MINIO_VERSION} with go install (first run only, takes a few minutes)...`,
  )
  await mkdir(dir, { recursive: true })
  await execFileP(go, ['install', `github.com/minio/minio@${MINIO_VERSION}`], {
    env: { ...process.env, GOBIN: dir, GOFLAGS: '-mod=mod' },
    maxBuffer: 64 * 1024 * 1024,
  })
  return existsSync(cached) ? cached : undefined
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const address = server.address()
      server.close(() => resolve(typeof address === 'object' && address ? address.port : 0))
    })
  })
}

async function startBinary(bin: string): Promise<RunningS3> {
  const dataDir = await mkdtemp(join(tmpdir(), 's3db-minio-'))
  for (let attempt = 0; attempt < 3; attempt++) {
    const port = await freePort()
    const consolePort = await freePort()
    const child: ChildProcess = spawn(
      bin,
      [
        'server',
        '--quiet',
        '--address',
        `127.0.0.1:${port}`,
        '--console-address',
        `127.0.0.1:${consolePort}`,
        dataDir,
      ],
      {
        env: {
          ...process.env,
          MINIO_ROOT_USER: 'minioadmin',
          MINIO_ROOT_PASSWORD: 'minioadmin',
          MINIO_BROWSER: 'off',
          MINIO_UPDATE: 'off',
        },
        stdio: ['ignore', 'ignore', 'pipe'],
      },
    )
    let stderr = ''
    child.stderr?.on('data', (d: Buffer) => {
      stderr += d.toString()
    })
    const endpoint = `http://127.0.0.1:${port}`
    if (await waitHealthy(endpoint, child, 30_000)) {
      const stop = async () => {
        if (child.exitCode === null && child.pid) {
          const exited = new Promise((r) => child.once('exit', r))
          process.kill(child.pid, 'SIGTERM')
          await Promise.race([exited, new Promise((r) => setTimeout(r, 5000))])
          if (child.exitCode === null) process.kill(child.pid, 'SIGKILL')
        }
        await rm(dataDir, { recursive: true, force: true })
      }
      return {
        endpoint,
        accessKeyId: 'minioadmin',
        secretAccessKey: 'minioadmin',
        region: 'us-east-1',
        source: `minio binary pid ${child.pid} on ${endpoint}`,
        stop,
      }
    }
    if (child.exitCode === null && child.pid) process.kill(child.pid, 'SIGKILL')
    if (attempt === 2) throw new Error(`minio did not become healthy: ${stderr.slice(-2000)}`)
  }
  throw new Error('unreachable')
}

async function waitHealthy(
  endpoint: string,
  child: ChildProcess,
  timeoutMs: number,
): Promise<boolean> {
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    if (child.exitCode !== null) return false
    try {
      const res = await fetch(`${endpoint}/minio/health/live`)
      if (res.ok) return true
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 100))
  }
  return false
}
