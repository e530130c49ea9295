/**
 * examples/nextjs end to end, on its production build:
 *
 * - in Chromium (playwright-core, /usr/bin/chromium): what a user sees when
 *   posting, voting and completing ideas; two users (browser contexts) acting
 *   at once see each other's writes after a refresh; a blank title is refused.
 * - two server processes on one store (filesystem, then MinIO): writes through
 *   one are visible through the other, and 20 concurrent server-action form
 *   posts spread over both lose nothing (exact counts).
 *
 * Timings (build, first page load, server action round trips) are printed.
 */
import { existsSync } from 'node:fs'
import { mkdir } from 'node:fs/promises'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { type Browser, chromium, type Page } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
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
async function serve(env: NodeJS.ProcessEnv): Promise<AppServer> {
  const server = await startApp(env)
  cleanups.push(() => server.stop())
  return server
}

async function filesystemEnv(label: string): Promise<(name: string) => NodeJS.ProcessEnv> {
  const { dir, cleanup } = await tempDir(`example-${label}`)
  cleanups.push(cleanup)
  return (name) => ({
    S3DB_DATA_DIR: join(dir, 'store'),
    S3DB_LOCAL_PATH: join(dir, `replica-${name}.sqlite`),
  })
}

async function minioEnv(): Promise<(name: string) => NodeJS.ProcessEnv> {
  const endpoint = s3Endpoint()!
  const bucket = await freshBucket(s3Client(endpoint), 'example-nextjs')
  const { dir, cleanup } = await tempDir('example-minio')
  cleanups.push(cleanup)
  return (name) => ({
    S3DB_URL: `s3://${bucket}/board/`,
    AWS_ENDPOINT_URL: endpoint.endpoint,
    AWS_ACCESS_KEY_ID: endpoint.accessKeyId,
    AWS_SECRET_ACCESS_KEY: endpoint.secretAccessKey,
    AWS_REGION: endpoint.region,
    S3DB_LOCAL_PATH: join(dir, `replica-${name}.sqlite`),
  })
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!

describe.skipIf(browserSkip)('in a browser', () => {
  let server: AppServer
  let browser: Browser

  beforeAll(async () => {
    server = await serve((await filesystemEnv('browser'))('browser'))
    // launch() gives the browser a fresh temporary profile. No background
    // connections: this machine's network is closed.
    browser = await chromium.launch({
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
    cleanups.push(() => browser.close())
  }, 120_000)

  async function postIdea(page: Page, title: string, name?: string) {
    await page.getByRole('textbox', { name: 'New idea' }).fill(title)
    if (name !== undefined) await page.getByRole('textbox', { name: 'Your name' }).fill(name)
    await page.getByRole('button', { name: 'Post idea' }).click()
    await expect.poll(() => page.getByText(title, { exact: true }).count()).toBe(1)
  }

  const votes = (page: Page, title: string) =>
    page.getByRole('button', { name: `Vote for ${title}` }).textContent()

  it('posts, votes and completes ideas', async () => {
    const context = await browser.newContext()
    const page = await context.newPage()
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
    await context.close()
  })

  it('refuses a blank title with a message', async () => {
    const context = await browser.newContext()
    const page = await context.newPage()
    await page.goto(server.url)
    const before = (await board(server)).totals.ideas
    // Spaces pass the browser's `required` check; the server action trims them.
    await page.getByRole('textbox', { name: 'New idea' }).fill('   ')
    await page.getByRole('textbox', { name: 'Your name' }).fill('Ann')
    await page.getByRole('button', { name: 'Post idea' }).click()
    const newIdea = page.locator('form', { has: page.getByRole('button', { name: 'Post idea' }) })
    await expect.poll(() => newIdea.getByRole('alert').textContent()).toBe('A title is required')
    expect((await board(server)).totals.ideas).toBe(before)
    await context.close()
  })

  it('two users at once see each other after a refresh', async () => {
    const [ann, bob] = await Promise.all([browser.newContext(), browser.newContext()])
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
  expect(fromA.pid).toBe(a.pid)
  expect(fromB.pid).toBe(b.pid)
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
