/**
 * `s3db migrate` end to end with the real ORM packages (their built dist/), on
 * the filesystem store and MinIO.
 */
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'
import { freshBucket, s3Client, s3Endpoint, s3SkipReason } from '../../../test/support/s3.js'
import { cli, expectCleanError, json, tempDir } from './helpers.js'

const fixture = (name: string) => fileURLToPath(new URL(`./fixtures/${name}`, import.meta.url))
const built = (pkg: string) =>
  existsSync(fileURLToPath(new URL(`../../${pkg}/dist/index.js`, import.meta.url)))

const drizzleSkip = built('drizzle-driver') ? '' : '@s3db/drizzle is not built'
const kyselySkip = built('kysely-dialect') ? '' : '@s3db/kysely is not built'
if (drizzleSkip) console.log(`CLI drizzle migrate tests SKIPPED: ${drizzleSkip}`)
if (kyselySkip) console.log(`CLI kysely migrate tests SKIPPED: ${kyselySkip}`)
const s3Skip = s3SkipReason()
if (s3Skip) console.log(`CLI migrate tests on MinIO SKIPPED: ${s3Skip}`)

interface Migrated {
  applied: string[]
  seq: number
}

async function tables(target: string, env: NodeJS.ProcessEnv = {}): Promise<string[]> {
  const r = await cli(
    ['sql', target, "SELECT name FROM sqlite_schema WHERE type = 'table' ORDER BY name", '--json'],
    { env },
  )
  expect(r.code, r.stderr).toBe(0)
  return json<{ name: string }[]>(r).map((t) => t.name)
}

async function drizzleTwice(target: string, env: NodeJS.ProcessEnv = {}): Promise<void> {
  expect((await cli(['init', target], { env })).code).toBe(0)
  const first = await cli(['migrate', target, '--drizzle', fixture('drizzle'), '--json'], { env })
  expect(first.code, first.stderr).toBe(0)
  expect(json<Migrated>(first)).toMatchObject({ applied: ['0000_init', '0001_posts'], seq: 1 })
  const again = await cli(['migrate', target, '--drizzle', fixture('drizzle')], { env })
  expect(again.code, again.stderr).toBe(0)
  expect(again.stdout).toMatch(/is up to date: no pending drizzle migrations/)
  expect(await tables(target, env)).toEqual(['__drizzle_migrations', 'accounts', 'posts'])
}

describe.skipIf(Boolean(drizzleSkip))('s3db migrate --drizzle', () => {
  it('applies a drizzle-kit folder once, in one commit (filesystem store)', async () => {
    await drizzleTwice(join(await tempDir('mig-drizzle'), 'db'))
  })

  it.skipIf(Boolean(s3Skip))(
    'applies a drizzle-kit folder once, in one commit (MinIO)',
    async () => {
      const e = s3Endpoint()!
      const client = s3Client(e)
      const bucket = await freshBucket(client, 'climig')
      client.destroy()
      await drizzleTwice(`s3://${bucket}/db/`, {
        AWS_ENDPOINT_URL: e.endpoint,
        AWS_ACCESS_KEY_ID: e.accessKeyId,
        AWS_SECRET_ACCESS_KEY: e.secretAccessKey,
        AWS_REGION: e.region,
      })
    },
  )
})

describe.skipIf(Boolean(kyselySkip))('s3db migrate --kysely', () => {
  it('applies a folder of Kysely migrations once', async () => {
    const target = join(await tempDir('mig-kysely'), 'db')
    expect((await cli(['init', target])).code).toBe(0)
    const first = await cli(['migrate', target, '--kysely', fixture('kysely')])
    expect(first.code, first.stderr).toBe(0)
    expect(first.stdout).toMatch(/applied 1 kysely migration .*\(seq 0 -> 1\):\n {2}0001_init\n/)
    const again = await cli(['migrate', target, '--kysely', fixture('kysely'), '--json'])
    expect(json<Migrated>(again)).toMatchObject({ applied: [], seq: 1 })
    expect(await tables(target)).toContain('pets')
  })

  it('applies nothing when one migration of the run fails (exit 1)', async () => {
    const target = join(await tempDir('mig-kysely-bad'), 'db')
    expect((await cli(['init', target])).code).toBe(0)
    const r = await cli(['migrate', target, '--kysely', fixture('kysely-bad')])
    expect(r.code).toBe(1)
    expectCleanError(r)
    expect(await tables(target)).toEqual([])
    const s = await cli(['status', target, '--json'])
    expect(json<{ seq: number }>(s).seq).toBe(0)
  })
})
