/**
 * examples/nextjs deployed as a standalone server: `next build` (output:
 * 'standalone', into .next-standalone so it can run next to nextjs.test.ts),
 * then the standalone folder and the static assets are copied into an empty
 * temp directory (no node_modules of the repository reachable) and `node
 * server.js` is started there with nothing but PATH and HOME from this
 * environment. In Chromium a user posts an idea and votes for it, on the
 * filesystem store and on MinIO. Prints the build time and what the output weighs.
 */
import { execFile } from 'node:child_process'
import { cpSync, existsSync, lstatSync, readdirSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { promisify } from 'node:util'
import { type Browser, chromium } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { freshBucket, s3Client, s3Endpoint, s3SkipReason } from '../support/s3.js'
import {
  type AppServer,
  appDir,
  type BoardJson,
  freePort,
  startServer,
} from './support/next-server.js'

const execFileP = promisify(execFile)
const DIST_DIR = '.next-standalone'
const CHROMIUM = process.env.S3DB_CHROMIUM ?? '/usr/bin/chromium'
const s3Skip = s3SkipReason()
if (s3Skip) console.log(`nextjs standalone on MinIO SKIPPED: ${s3Skip}`)
const browserSkip = existsSync(CHROMIUM)
  ? ''
  : `${CHROMIUM} is not installed (apt-get install chromium)`
if (browserSkip && process.env.CI)
  throw new Error(`CI must run the browser test, but ${browserSkip}`)
if (browserSkip) console.log(`nextjs standalone browser test SKIPPED: ${browserSkip}`)

const cleanups: Array<() => Promise<void>> = []
afterAll(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup()
}, 60_000)

async function temp(label: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), `s3db-${label}-`))
  cleanups.push(() => rm(dir, { recursive: true, force: true }))
  return dir
}

/** Bytes of the files under `dir` (symlinks count as links, not followed). */
function weigh(dir: string): { bytes: number; files: number } {
  let bytes = 0
  let files = 0
  for (const entry of readdirSync(dir, { withFileTypes: true, recursive: true })) {
    if (!entry.isFile()) continue
    bytes += lstatSync(join(entry.parentPath, entry.name)).size
    files++
  }
  return { bytes, files }
}

/** The deployed app folder (where server.js is) in an empty temp directory. */
let serverDir: string

beforeAll(async () => {
  const started = Date.now()
  try {
    await execFileP(
      process.execPath,
      [join(appDir, '../../node_modules/next/dist/bin/next'), 'build'],
      {
        cwd: appDir,
        env: {
          ...process.env,
          NODE_ENV: 'production',
          NEXT_TELEMETRY_DISABLED: '1',
          S3DB_NEXT_DIST_DIR: DIST_DIR,
        },
        timeout: 240_000,
        maxBuffer: 16 * 1024 * 1024,
      },
    )
  } catch (err) {
    const e = err as { stdout?: string; stderr?: string }
    throw new Error(`next build failed:\n${e.stdout ?? ''}\n${e.stderr ?? ''}`)
  }
  const built = Date.now() - started
  const standalone = join(appDir, DIST_DIR, 'standalone')
  const deployRoot = join(await temp('nextjs-standalone'), 'app')
  // As a deploy would: the standalone folder (symlinks kept as they are: they are
  // relative and point inside it), plus the static assets Next leaves out of it.
  cpSync(standalone, deployRoot, { recursive: true, verbatimSymlinks: true })
  serverDir = join(deployRoot, 'examples/nextjs')
  cpSync(join(appDir, DIST_DIR, 'static'), join(serverDir, DIST_DIR, 'static'), {
    recursive: true,
  })
  for (let d = deployRoot; d !== dirname(d); d = dirname(d)) {
    expect(existsSync(join(dirname(d), 'node_modules')), `${dirname(d)}/node_modules`).toBe(false)
  }
  const { bytes, files } = weigh(deployRoot)
  const nm = weigh(join(deployRoot, 'node_modules'))
  console.log(
    `nextjs standalone: next build ${built} ms; output ${(bytes / 1024 / 1024).toFixed(1)} MB in ${files} files (node_modules ${(nm.bytes / 1024 / 1024).toFixed(1)} MB)`,
  )
}, 300_000)

/** `node server.js` in the copied folder, with only PATH, HOME and the store settings. */
async function startStandalone(env: NodeJS.ProcessEnv): Promise<AppServer> {
  const port = await freePort()
  const started = Date.now()
  const server = await startServer({
    name: 'server.js',
    args: ['server.js'],
    cwd: serverDir,
    env: {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      NODE_ENV: 'production',
      NEXT_TELEMETRY_DISABLED: '1',
      HOSTNAME: '127.0.0.1',
      PORT: String(port),
      ...env,
    },
    port,
  })
  cleanups.push(() => server.stop())
  console.log(`nextjs standalone: server.js answered ${Date.now() - started} ms after start`)
  return server
}

let browser: Browser | undefined
afterAll(async () => {
  await browser?.close()
})

async function postAndVote(server: AppServer, title: string): Promise<void> {
  // A fresh temporary profile, no background connections (the network may be closed).
  browser ??= await chromium.launch({
    executablePath: CHROMIUM,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  })
  const context = await browser.newContext()
  try {
    const page = await context.newPage()
    await page.goto(server.url)
    await page.getByRole('textbox', { name: 'New idea' }).fill(title)
    await page.getByRole('textbox', { name: 'Your name' }).fill('Ann')
    await page.getByRole('button', { name: 'Post idea' }).click()
    await expect.poll(() => page.getByText(title, { exact: true }).count()).toBe(1)
    const vote = page.getByRole('button', { name: `Vote for ${title}` })
    expect(await vote.textContent()).toBe('▲ 0')
    await vote.click()
    await expect.poll(() => vote.textContent()).toBe('▲ 1')
  } finally {
    await context.close()
  }
  // What the browser showed is in the database.
  const board = (await (await fetch(`${server.url}api/board`)).json()) as BoardJson
  expect(board.ideas.find((i) => i.title === title)).toMatchObject({ votes: 1, author: 'Ann' })
  expect(server.log()).not.toMatch(/Error|could not open/i)
}

describe('nextjs example as a standalone server outside the repository', () => {
  it.skipIf(browserSkip)(
    'on the filesystem store: post and vote in the browser',
    { timeout: 90_000 },
    async () => {
      const data = await temp('nextjs-standalone-data')
      const server = await startStandalone({
        S3DB_DATA_DIR: join(data, 'store'),
        S3DB_LOCAL_PATH: join(data, 'replica.sqlite'),
      })
      await postAndVote(server, 'Ship the standalone build')
      await server.stop()
    },
  )

  it.skipIf(browserSkip || s3Skip)(
    'on MinIO: post and vote in the browser',
    { timeout: 90_000 },
    async () => {
      const endpoint = s3Endpoint()!
      const bucket = await freshBucket(s3Client(endpoint), 'nextjs-standalone')
      const server = await startStandalone({
        S3DB_URL: `s3://${bucket}/board/`,
        AWS_ENDPOINT_URL: endpoint.endpoint,
        AWS_ACCESS_KEY_ID: endpoint.accessKeyId,
        AWS_SECRET_ACCESS_KEY: endpoint.secretAccessKey,
        AWS_REGION: endpoint.region,
        S3DB_LOCAL_PATH: 'temp',
      })
      await postAndVote(server, 'Ship it on S3')
      await server.stop()
    },
  )
})
