/**
 * examples/nextjs end to end, on its production build:
 *
 * - in Chromium (playwright-core, /usr/bin/chromium): what a user sees when
 *   posting, voting and completing ideas; two users (browser contexts) acting
 *   at once see each other's writes after a refresh; a refused post keeps what
 *   was typed; a vote is credited to the name typed before any post; no request
 *   of the page fails (favicon included) and the page shows no server details.
 * - when things fail, in Chromium: the store stops answering (the app reaches
 *   MinIO through a TCP proxy that the test stops and starts again), and a
 *   server whose replica file another server holds: the page and the forms say
 *   what happened and whether anything was saved, and keep the typed input.
 * - two server processes on one store (filesystem, then MinIO): writes through
 *   one are visible through the other, and 20 concurrent server-action form
 *   posts spread over both lose nothing (exact counts).
 *
 * Timings (build, first page load, server action round trips) are printed.
 */
import { existsSync } from 'node:fs'
import { mkdir } from 'node:fs/promises'
import { connect, createServer, type Server, type Socket } from 'node:net'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import {
  AccessDeniedError,
  BucketNotFoundError,
  CommitIndeterminateError,
  LocalCacheLockedError,
  SchemaTooNewError,
  StoreUnavailableError,
  WriteConflictError,
} from '@s3db/core'
import { type Browser, chromium, type Page } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { describeFailure } from '../../examples/nextjs/src/board/failures.js'
import { tempDir } from '../../packages/core/test/helpers.js'
import { freshBucket, s3Client, s3Endpoint, s3SkipReason } from '../support/s3.js'
import { findForm, submitForm } from './support/forms.js'
import { type AppServer, board, buildApp, startApp } from './support/next-server.js'

const CHROMIUM = process.env.S3DB_CHROMIUM ?? '/usr/bin/chromium'
const artifacts = fileURLToPath(new URL('../../test-artifacts/', import.meta.url))
const s3Skip = s3SkipReason()
if (s3Skip) console.log(`nextjs example on MinIO SKIPPED: ${s3Skip}`)
const browserSkip = existsSync(CHROMIUM)
  ? ''
  : `${CHROMIUM} is not installed (apt-get install chromium)`
// CI installs Chromium (.ci/chromium.sh): there a missing browser is a failure, not a skip.
if (browserSkip && process.env.CI)
  throw new Error(`CI must run the browser test, but ${browserSkip}`)
if (browserSkip) console.log(`nextjs browser test SKIPPED: ${browserSkip}`)

const timings: string[] = []
const note = (line: string) => {
  timings.push(line)
  console.log(`nextjs example: ${line}`)
}
const cleanups: Array<() => Promise<void>> = []

beforeAll(async () => {
  await mkdir(artifacts, { recursive: true })
  note(`next build took ${await buildApp()} ms`)
}, 300_000)

afterAll(async () => {
  // Servers first (by PID), then their folders.
  for (const cleanup of cleanups.reverse()) await cleanup()
  console.log(`nextjs example timings:\n  ${timings.join('\n  ')}`)
}, 60_000)

/** A server on `env`, stopped in afterAll. */
async function serve(
  env: NodeJS.ProcessEnv,
  options?: Parameters<typeof startApp>[1],
): Promise<AppServer> {
  const server = await startApp(env, options)
  cleanups.push(() => server.stop())
  return server
}

/**
 * A TCP proxy to `target` (host:port) on 127.0.0.1 that can be stopped (every
 * connection cut, new ones refused, as when the store is down) and started
 * again on the same port.
 */
async function tcpProxy(target: URL) {
  const sockets = new Set<Socket>()
  let server: Server | undefined
  let port = 0
  const start = () =>
    new Promise<void>((resolve, reject) => {
      server = createServer((client) => {
        const upstream = connect(Number(target.port), target.hostname)
        sockets.add(client).add(upstream)
        const drop = () => {
          client.destroy()
          upstream.destroy()
          sockets.delete(client)
          sockets.delete(upstream)
        }
        client.on('error', drop).on('close', drop)
        upstream.on('error', drop).on('close', drop)
        client.pipe(upstream).pipe(client)
      })
      server.once('error', reject)
      server.listen(port, '127.0.0.1', () => {
        port = (server!.address() as { port: number }).port
        resolve()
      })
    })
  const stop = async () => {
    for (const s of sockets) s.destroy()
    sockets.clear()
    await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()))
    server = undefined
  }
  await start()
  cleanups.push(stop)
  return { url: `http://127.0.0.1:${port}`, start, stop }
}

async function filesystemEnv(label: string): Promise<(name: string) => NodeJS.ProcessEnv> {
  const { dir, cleanup } = await tempDir(`example-${label}`)
  cleanups.push(cleanup)
  return (name) => ({
    S3DB_DATA_DIR: join(dir, 'store'),
    S3DB_LOCAL_PATH: join(dir, `replica-${name}.sqlite`),
  })
}

/** A fresh bucket on the test MinIO; `via` is another way to reach it (a proxy). */
async function minioEnv(via?: string): Promise<(name: string) => NodeJS.ProcessEnv> {
  const endpoint = s3Endpoint()!
  const bucket = await freshBucket(s3Client(endpoint), 'example-nextjs')
  const { dir, cleanup } = await tempDir('example-minio')
  cleanups.push(cleanup)
  return (name) => ({
    S3DB_URL: `s3://${bucket}/board/`,
    AWS_ENDPOINT_URL: via ?? endpoint.endpoint,
    AWS_ACCESS_KEY_ID: endpoint.accessKeyId,
    AWS_SECRET_ACCESS_KEY: endpoint.secretAccessKey,
    AWS_REGION: endpoint.region,
    S3DB_LOCAL_PATH: join(dir, `replica-${name}.sqlite`),
  })
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!

/** One Chromium for the file, launched on first use and closed in afterAll. */
let launched: Promise<Browser> | undefined
function browser(): Promise<Browser> {
  // launch() gives the browser a fresh temporary profile. No background
  // connections: this machine's network is closed.
  launched ??= chromium
    .launch({
      executablePath: CHROMIUM,
      args: [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
      ],
    })
    .then((b) => {
      cleanups.push(() => b.close())
      return b
    })
  return launched
}

/** A page in a fresh context (a new user); `failed` collects its responses >= 400. */
async function newUser() {
  const context = await (await browser()).newContext()
  const page = await context.newPage()
  const failed: string[] = []
  page.on('response', (r) => {
    if (r.status() >= 400) failed.push(`${r.status()} ${r.request().method()} ${r.url()}`)
  })
  return { context, page, failed }
}

async function postIdea(page: Page, title: string, name?: string) {
  await page.getByRole('textbox', { name: 'New idea' }).fill(title)
  if (name !== undefined) await page.getByRole('textbox', { name: 'Your name' }).fill(name)
  await page.getByRole('button', { name: 'Post idea' }).click()
  await expect.poll(() => page.getByText(title, { exact: true }).count()).toBe(1)
}

const votes = (page: Page, title: string) =>
  page.getByRole('button', { name: `Vote for ${title}` }).textContent()

const newIdeaForm = (page: Page) =>
  page.locator('form', { has: page.getByRole('button', { name: 'Post idea' }) })

describe.skipIf(browserSkip)('in a browser', () => {
  let server: AppServer
  let storeDir: string

  beforeAll(async () => {
    const env = (await filesystemEnv('browser'))('browser')
    storeDir = env.S3DB_DATA_DIR!
    server = await serve(env)
    await browser()
  }, 120_000)

  it('posts, votes and completes ideas', async () => {
    const { context, page, failed } = await newUser()
    const started = Date.now()
    await page.goto(server.url)
    await expect
      .poll(() => page.getByRole('heading', { name: 'Idea board' }).isVisible())
      .toBe(true)
    note(`first page load (filesystem store, fresh server): ${Date.now() - started} ms`)
    await expect.poll(() => page.getByText('No ideas yet').isVisible()).toBe(true)

    await postIdea(page, 'Write the launch post', 'Ann')
    // The title field is cleared for the next idea, the name is remembered.
    expect(await page.getByRole('textbox', { name: 'New idea' }).inputValue()).toBe('')
    expect(await page.getByRole('textbox', { name: 'Your name' }).inputValue()).toBe('Ann')
    expect(await votes(page, 'Write the launch post')).toBe('▲ 0')

    const clicked = Date.now()
    await page.getByRole('button', { name: 'Vote for Write the launch post' }).click()
    await expect.poll(() => votes(page, 'Write the launch post')).toBe('▲ 1')
    note(
      `vote click to updated count in the browser (filesystem store): ${Date.now() - clicked} ms`,
    )
    await page.getByRole('button', { name: 'Vote for Write the launch post' }).click()
    await expect.poll(() => votes(page, 'Write the launch post')).toBe('▲ 2')

    await page.getByRole('button', { name: 'Mark done: Write the launch post' }).click()
    await expect
      .poll(() => page.getByRole('button', { name: 'Reopen: Write the launch post' }).isVisible())
      .toBe(true)
    const activity = page.getByRole('region', { name: 'Recent activity' })
    await expect
      .poll(() => activity.getByRole('listitem').allInnerTexts())
      .toEqual([
        expect.stringContaining('Ann completed “Write the launch post”'),
        expect.stringContaining('Ann voted “Write the launch post”'),
        expect.stringContaining('Ann voted “Write the launch post”'),
        expect.stringContaining('Ann posted “Write the launch post”'),
      ])
    expect(await page.getByTestId('totals').textContent()).toBe('1 ideas · 2 votes · 4 actions')

    // It is all in the database, not just in this page: a reload shows the same.
    const reloaded = Date.now()
    await page.reload()
    note(`page reload (warm server, filesystem store): ${Date.now() - reloaded} ms`)
    expect(await votes(page, 'Write the launch post')).toBe('▲ 2')
    await page.screenshot({ path: join(artifacts, 'nextjs-board.png'), fullPage: true })
    // Nothing the page asked for failed: no 404 for /favicon.ico, no failed action.
    expect(failed).toEqual([])
    const icon = await fetch(`${server.url}favicon.ico`)
    expect(icon.status).toBe(200)
    expect(icon.headers.get('content-type')).toBe('image/svg+xml')
    expect(await page.locator('link[rel="icon"]').getAttribute('href')).toBe('/favicon.ico')
    // What visitors see says nothing about the server: no process id, no paths.
    const html = await page.content()
    expect(html).not.toContain(storeDir)
    expect(await page.locator('footer').textContent()).toMatch(
      /^\d+ ideas · \d+ votes · \d+ actionsdatabase seq \d+$/,
    )
    await context.close()
  })

  it('a refused post keeps what was typed', async () => {
    const { context, page } = await newUser()
    await page.goto(server.url)
    const before = (await board(server)).totals.ideas
    const title = page.getByRole('textbox', { name: 'New idea' })
    const name = page.getByRole('textbox', { name: 'Your name' })
    // Spaces pass the browser's `required` check; the server action trims them.
    await title.fill('   ')
    await name.fill('Ann')
    await page.getByRole('button', { name: 'Post idea' }).click()
    await expect
      .poll(() => newIdeaForm(page).getByRole('alert').textContent())
      .toBe('A title is required')
    expect(await name.inputValue()).toBe('Ann')
    // A blank name: the title typed so far must survive the round trip.
    await title.fill('Keep this title')
    await name.fill('  ')
    await page.getByRole('button', { name: 'Post idea' }).click()
    await expect
      .poll(() => newIdeaForm(page).getByRole('alert').textContent())
      .toBe('Your name is required')
    expect(await title.inputValue()).toBe('Keep this title')
    expect((await board(server)).totals.ideas).toBe(before)
    await context.close()
  })

  it('credits a vote to the name typed in the form, before any post', async () => {
    const { context: first, page: poster } = await newUser()
    await poster.goto(server.url)
    await postIdea(poster, 'Name the cat', 'Ann')
    await first.close()
    // A new visitor: no cookie, has never posted, types a name and votes.
    const { context, page } = await newUser()
    await page.goto(server.url)
    await page.getByRole('textbox', { name: 'Your name' }).fill('Cleo')
    await page.getByRole('button', { name: 'Vote for Name the cat' }).click()
    await expect.poll(() => votes(page, 'Name the cat')).toBe('▲ 1')
    const activity = page.getByRole('region', { name: 'Recent activity' })
    expect(await activity.getByRole('listitem').first().textContent()).toContain(
      'Cleo voted “Name the cat”',
    )
    expect(await activity.textContent()).not.toContain('someone')
    // And the name is remembered, like a post does.
    await page.reload()
    expect(await page.getByRole('textbox', { name: 'Your name' }).inputValue()).toBe('Cleo')
    await context.close()
  })

  it('history: shows the board as it was at a past seq, read-only, and undoes to it', async () => {
    const { context, page, failed } = await newUser()
    await page.goto(server.url)
    await postIdea(page, 'Keep the history', 'Hana')
    const kept = (await board(server)).seq
    await page.getByRole('button', { name: 'Vote for Keep the history' }).click()
    await expect.poll(() => votes(page, 'Keep the history')).toBe('▲ 1')
    await postIdea(page, 'A bad idea', 'Hana')
    const history = page.getByRole('region', { name: 'History' })
    await expect.poll(() => history.getByRole('listitem').first().textContent()).toMatch(/^now/)
    // The board as it was right after the first post: no vote yet, no bad idea.
    await history.getByRole('link', { name: `Board at seq ${kept}` }).click()
    const past = page.getByRole('status').filter({ hasText: 'as it was at seq' })
    await expect.poll(() => past.textContent()).toContain(`seq ${kept}`)
    expect(await page.getByText('A bad idea', { exact: true }).count()).toBe(0)
    expect(await page.getByText('Keep the history', { exact: true }).count()).toBe(1)
    // Read-only: no vote buttons, no post form.
    expect(await page.getByRole('button', { name: 'Vote for Keep the history' }).count()).toBe(0)
    expect(await page.getByRole('button', { name: 'Post idea' }).count()).toBe(0)
    // The live board has not moved.
    expect((await board(server)).ideas.map((i) => i.title)).toContain('A bad idea')
    // Undo: the past state becomes the board (a new commit, seq moves forward).
    const before = (await board(server)).seq
    await page.getByRole('button', { name: 'Undo to this state' }).click()
    await expect.poll(() => page.getByRole('button', { name: 'Post idea' }).count()).toBe(1)
    const after = await board(server)
    expect(after.seq).toBe(before + 1)
    expect(after.ideas.map((i) => i.title)).not.toContain('A bad idea')
    expect(after.ideas.find((i) => i.title === 'Keep the history')?.votes).toBe(0)
    expect(await page.getByText('A bad idea', { exact: true }).count()).toBe(0)
    expect(failed).toEqual([])
    await context.close()
  })

  it('two users at once see each other after a refresh', async () => {
    const b = await browser()
    const [ann, bob] = await Promise.all([b.newContext(), b.newContext()])
    const [pa, pb] = await Promise.all([ann.newPage(), bob.newPage()])
    await Promise.all([pa.goto(server.url), pb.goto(server.url)])
    // Both post at the same moment, then both vote for their own idea 3 times at once.
    await Promise.all([
      postIdea(pa, 'Ann: dark mode', 'Ann'),
      postIdea(pb, 'Bob: CSV export', 'Bob'),
    ])
    for (let i = 1; i <= 3; i++) {
      await Promise.all([
        pa.getByRole('button', { name: 'Vote for Ann: dark mode' }).click(),
        pb.getByRole('button', { name: 'Vote for Bob: CSV export' }).click(),
      ])
      await Promise.all([
        expect.poll(() => votes(pa, 'Ann: dark mode')).toBe(`▲ ${i}`),
        expect.poll(() => votes(pb, 'Bob: CSV export')).toBe(`▲ ${i}`),
      ])
    }
    await Promise.all([pa.reload(), pb.reload()])
    for (const page of [pa, pb]) {
      expect(await votes(page, 'Ann: dark mode')).toBe('▲ 3')
      expect(await votes(page, 'Bob: CSV export')).toBe('▲ 3')
      const activity = await page.getByRole('region', { name: 'Recent activity' }).textContent()
      expect(activity).toContain('Ann posted “Ann: dark mode”')
      expect(activity).toContain('Bob posted “Bob: CSV export”')
      expect(activity).toContain('Bob voted “Bob: CSV export”')
    }
    // Each browser remembers its own user.
    expect(await pa.getByRole('textbox', { name: 'Your name' }).inputValue()).toBe('Ann')
    expect(await pb.getByRole('textbox', { name: 'Your name' }).inputValue()).toBe('Bob')
    await pa.screenshot({ path: join(artifacts, 'nextjs-two-users-ann.png'), fullPage: true })
    await pb.screenshot({ path: join(artifacts, 'nextjs-two-users-bob.png'), fullPage: true })
    await Promise.all([ann.close(), bob.close()])
  })
})

describe.skipIf(browserSkip)('in a browser, when the store or the replica fails', () => {
  const notSaved = (change: string) =>
    `The database store is not answering right now. ${change} was not saved. Try again in a moment.`

  it.skipIf(s3Skip)(
    'store down: the form says nothing was saved and keeps the input; a retry after it is back posts',
    async () => {
      const proxy = await tcpProxy(new URL(s3Endpoint()!.endpoint))
      const server = await serve((await minioEnv(proxy.url))('down'))
      const { context, page } = await newUser()
      await page.goto(server.url)
      await postIdea(page, 'Before the outage', 'Dee')

      await proxy.stop()
      const title = page.getByRole('textbox', { name: 'New idea' })
      await title.fill('Posted while the store was down')
      const started = Date.now()
      await page.getByRole('button', { name: 'Post idea' }).click()
      await expect
        .poll(() => newIdeaForm(page).getByRole('alert').textContent(), { timeout: 60_000 })
        .toBe(notSaved('Your idea'))
      note(`post with the store down: error shown after ${Date.now() - started} ms`)
      // Still the board, with the typed text, not an error page.
      expect(await page.getByRole('heading', { name: 'Idea board' }).isVisible()).toBe(true)
      expect(await title.inputValue()).toBe('Posted while the store was down')
      expect(await page.getByRole('textbox', { name: 'Your name' }).inputValue()).toBe('Dee')
      // A vote fails the same way, next to its button.
      await page.getByRole('button', { name: 'Vote for Before the outage' }).click()
      await expect
        .poll(
          () =>
            page
              .getByRole('region', { name: 'Ideas' })
              .getByRole('listitem')
              .filter({ hasText: 'Before the outage' })
              .getByRole('alert')
              .textContent(),
          {
            timeout: 60_000,
          },
        )
        .toBe(notSaved('Your vote'))
      await page.screenshot({ path: join(artifacts, 'nextjs-store-down.png'), fullPage: true })
      // A reload cannot show the board, and says why instead of failing.
      const { context: other, page: reader } = await newUser()
      await reader.goto(server.url)
      await expect
        .poll(() => reader.getByRole('status').textContent(), { timeout: 60_000 })
        .toContain('The database store is not answering right now.')
      expect(await reader.getByRole('textbox', { name: 'New idea' }).isVisible()).toBe(true)
      await other.close()

      await proxy.start()
      await page.getByRole('button', { name: 'Post idea' }).click()
      await expect
        .poll(() => page.getByText('Posted while the store was down', { exact: true }).count(), {
          timeout: 60_000,
        })
        .toBe(1)
      expect(await title.inputValue()).toBe('')
      const after = await board(server)
      // Exactly what was acknowledged: the first post and the retried one, no vote.
      expect(after.ideas.map((i) => [i.title, i.votes]).sort()).toEqual([
        ['Before the outage', 0],
        ['Posted while the store was down', 0],
      ])
      await context.close()
    },
    180_000,
  )

  it('replica locked by another process: the page and the form say so and keep the input', async () => {
    const envFor = await filesystemEnv('locked')
    const first = await serve(envFor('shared'))
    // A second server on the same replica file, as when two processes are
    // given one localPath: it cannot open the database.
    const second = await serve(envFor('shared'), { ready: 'listening' })
    const { context, page, failed } = await newUser()
    await page.goto(second.url)
    const locked =
      'This server process cannot open its copy of the database: another process is using the same local replica file.'
    expect(await page.getByRole('status').textContent()).toContain(locked)
    await page.getByRole('textbox', { name: 'New idea' }).fill('Posted to the locked server')
    await page.getByRole('textbox', { name: 'Your name' }).fill('Eve')
    await page.getByRole('button', { name: 'Post idea' }).click()
    await expect
      .poll(() => newIdeaForm(page).getByRole('alert').textContent())
      .toBe(
        `${locked} Your idea was not saved. Whoever runs the server must give each server process its own localPath (S3DB_LOCAL_PATH).`,
      )
    expect(await page.getByRole('textbox', { name: 'New idea' }).inputValue()).toBe(
      'Posted to the locked server',
    )
    await page.screenshot({ path: join(artifacts, 'nextjs-replica-locked.png'), fullPage: true })
    // Only the JSON API reports the failure as an HTTP error; the page itself loads.
    expect(failed).toEqual([])
    const api = await fetch(`${second.url}api/board`)
    expect(api.status).toBe(503)
    expect(((await api.json()) as { error: string }).error).toContain(locked)
    // The server that holds the replica is unaffected, and nothing was saved.
    expect((await board(first)).totals.ideas).toBe(0)
    await context.close()
  })
})

describe('what the demo tells a user about each failure', () => {
  it('names the cause, and says "not saved" only where s3db guarantees it', () => {
    const cases: Array<[Error, RegExp, 'no' | 'unknown']> = [
      [
        new StoreUnavailableError('connect ECONNREFUSED', { maybeApplied: false }),
        /^The database store is not answering right now\. Your vote was not saved\. Try again in a moment\.$/,
        'no',
      ],
      [
        new WriteConflictError(100),
        /^Too many people were writing at the same moment\. Your vote was not saved\. Try again\.$/,
        'no',
      ],
      [
        new CommitIndeterminateError('outcome unknown'),
        /your vote may or may not have been saved\. Reload the page to check before trying again\.$/,
        'unknown',
      ],
      [
        new LocalCacheLockedError('/srv/replica.sqlite'),
        /own localPath \(S3DB_LOCAL_PATH\)\.$/,
        'no',
      ],
      [
        new AccessDeniedError('access denied'),
        /fix its store settings \(S3DB_URL and the AWS credentials\)\.$/,
        'no',
      ],
      [
        new BucketNotFoundError('board'),
        /or the bucket does not exist\. Your vote was not saved\./,
        'no',
      ],
      [
        new SchemaTooNewError(3, 2),
        /migrated by a newer version of this app\. Your vote was not saved\./,
        'no',
      ],
      [new Error('boom'), /^Something went wrong on the server\. Your vote was not saved\./, 'no'],
    ]
    for (const [err, message, saved] of cases) {
      const failure = describeFailure(err, 'Your vote')
      expect(failure.message, err.name).toMatch(message)
      expect(failure.saved, err.name).toBe(saved)
      // Nothing about the server (paths, raw error text) reaches the page.
      expect(failure.message).not.toMatch(/\/srv|ECONNREFUSED|boom/)
    }
    expect(describeFailure(new StoreUnavailableError('x', { maybeApplied: false })).message).toBe(
      'The database store is not answering right now. Try again in a moment.',
    )
  })
})

/** Two servers on one store: shared writes, and 20 concurrent form posts counted exactly. */
async function twoServers(label: string, envFor: (name: string) => NodeJS.ProcessEnv) {
  // Both start (and migrate the empty database) at the same moment.
  const [a, b] = await Promise.all([serve(envFor('a')), serve(envFor('b'))])
  expect(a.pid).not.toBe(b.pid)

  // A form post through A (what a browser without JavaScript sends) shows up on B.
  const postA = await submitForm(
    a.url,
    findForm(await (await fetch(a.url)).text(), 'name="title"'),
    {
      title: `from A on ${label}`,
      author: 'Ann',
    },
  )
  expect(postA.status).toBe(200)
  const seenByB = await board(b)
  expect(seenByB.ideas.map((i) => i.title)).toEqual([`from A on ${label}`])
  expect(await (await fetch(b.url)).text()).toContain(`from A on ${label}`)

  const postB = await submitForm(
    b.url,
    findForm(await (await fetch(b.url)).text(), 'name="title"'),
    {
      title: `from B on ${label}`,
      author: 'Bob',
    },
  )
  expect(postB.status).toBe(200)
  expect((await board(a)).ideas.map((i) => i.title).sort()).toEqual([
    `from A on ${label}`,
    `from B on ${label}`,
  ])

  // Round trip of one server action (a vote), server-side, sequential.
  const target = `from A on ${label}`
  const voteForm = async (s: AppServer) =>
    findForm(await (await fetch(s.url)).text(), `Vote for ${target}`)
  const [formA, formB] = await Promise.all([voteForm(a), voteForm(b)])
  const rounds: number[] = []
  for (let i = 0; i < 5; i++) {
    const started = Date.now()
    const res = await submitForm(i % 2 ? b.url : a.url, i % 2 ? formB : formA)
    expect(res.status).toBe(200)
    rounds.push(Date.now() - started)
  }
  note(`server action round trip (${label}): median ${median(rounds)} ms of [${rounds.join(', ')}]`)

  // 20 concurrent votes, half through each server.
  const started = Date.now()
  const posts = await Promise.all(
    Array.from({ length: 20 }, (_, i) => submitForm(i % 2 ? b.url : a.url, i % 2 ? formB : formA)),
  )
  note(`20 concurrent server actions over 2 servers (${label}): ${Date.now() - started} ms`)
  expect(posts.map((p) => p.status)).toEqual(Array(20).fill(200))

  const [fromA, fromB] = await Promise.all([board(a), board(b)])
  for (const view of [fromA, fromB]) {
    expect(view.ideas.find((i) => i.title === target)?.votes).toBe(25)
    expect(view.ideas.find((i) => i.title === `from B on ${label}`)?.votes).toBe(0)
    // 2 posts + 25 votes, each recorded in the same transaction as its change.
    expect(view.totals).toEqual({ ideas: 2, votes: 25, actions: 27 })
  }
  expect(fromA.seq).toBe(fromB.seq)
}

describe('two server processes on one store', () => {
  it('filesystem store: shared writes, exact counts under concurrent server actions', async () => {
    await twoServers('filesystem', await filesystemEnv('two'))
  })

  it.skipIf(s3Skip)(
    'MinIO: shared writes, exact counts under concurrent server actions',
    async () => {
      await twoServers('MinIO', await minioEnv())
    },
  )
})
