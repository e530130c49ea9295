/**
 * The process-wide database handle: one S3db (one local replica, one writer) per
 * server process, with Drizzle for writes and Kysely for typed reads over it.
 *
 * It lives on globalThis, not in a module variable, because Next.js may load this
 * module more than once in a process (hot reload in dev, the instrumentation
 * bundle and the app bundle): a second S3db on the same replica file would fail
 * with LocalCacheLocked, and a second replica would waste memory and requests.
 */
import { mkdir } from 'node:fs/promises'
import { dirname, join, resolve } from 'node:path'
import type { S3db } from '@s3db/core'
import type { S3dbDatabase } from '@s3db/drizzle'
import type { S3dbKysely } from '@s3db/kysely'
import type { BoardDatabase } from './kysely-types'
import { loadS3dbPackages, type S3dbPackages } from './packages'
import * as schema from './schema'
import { openStore, type StoreLocation } from './store'

export interface Db {
  s3db: S3db
  /** The s3db packages (for the static history operations: log, restore). */
  packages: S3dbPackages
  /** Drizzle: schema, migrations and the writes (transactions that re-run on conflict). */
  orm: S3dbDatabase<typeof schema>
  /** Kysely: typed reads. */
  kysely: S3dbKysely<BoardDatabase>
  location: StoreLocation
}

const KEY = Symbol.for('s3db.example-nextjs.db')
type Holder = typeof globalThis & { [KEY]?: Promise<Db> }

/** The handle, opened (and migrated) on first use. */
export function getDb(): Promise<Db> {
  const holder = globalThis as Holder
  if (!holder[KEY]) {
    holder[KEY] = open().catch((err: unknown) => {
      // Let the next request try again (e.g. the bucket did not exist yet).
      delete holder[KEY]
      throw err
    })
  }
  return holder[KEY]
}

/**
 * The replica file: reused across restarts (only what is new is fetched), but
 * never shared by two live processes (the second would get LocalCacheLocked). Two
 * servers cannot listen on one port, so the port names it. S3DB_LOCAL_PATH
 * overrides; `S3DB_LOCAL_PATH=temp` uses a temp file removed on close.
 */
function localPath(location: StoreLocation): string | undefined {
  const given = process.env.S3DB_LOCAL_PATH
  if (given === 'temp') return undefined
  if (given) return resolve(/* turbopackIgnore: true */ given)
  const port = process.env.PORT ?? '3000'
  return resolve(/* turbopackIgnore: true */ '.data', 'replicas', `${location.kind}-${port}.sqlite`)
}

async function open(): Promise<Db> {
  const started = Date.now()
  const packages = await loadS3dbPackages()
  const { S3db } = packages.core
  const { drizzle, migrate } = packages.drizzle
  const location = await openStore(packages)
  const replica = localPath(location)
  // S3db.open does not create the replica's folder.
  if (replica) await mkdir(dirname(replica), { recursive: true })
  // Keep a week of history: the board's history panel reads past states and undoes.
  const s3db = await S3db.open(location.store, location.prefix, {
    localPath: replica,
    history: { retain: process.env.S3DB_HISTORY_RETAIN ?? '7d' },
  })
  const orm = drizzle(s3db, { schema })
  // Every server applies the migrations on start; when several start at once,
  // each migration is still applied exactly once (one update, re-run on conflict).
  const { applied } = await migrate(orm, {
    migrationsFolder: join(/* turbopackIgnore: true */ process.cwd(), 'drizzle'),
  })
  const kysely = new packages.kysely.S3dbKysely<BoardDatabase>({ s3db })
  console.log(
    `s3db: ${location.describe} open at seq ${s3db.stats().seq} in ${Date.now() - started} ms` +
      (applied.length ? `, applied ${applied.length} migration(s)` : ''),
  )
  return { s3db, orm, kysely, location, packages }
}

/**
 * A read-only handle on the board as it was at `seq` (a temp replica, closed
 * by `close`): the same Kysely reads work on it, writes raise ReadOnly.
 */
export async function openPast(db: Db, seq: number): Promise<{ past: Db; close(): Promise<void> }> {
  const s3db = await db.packages.core.S3db.open(db.location.store, db.location.prefix, {
    at: { seq },
  })
  const kysely = new db.packages.kysely.S3dbKysely<BoardDatabase>({ s3db })
  return {
    past: { ...db, s3db, kysely },
    close: async () => {
      await kysely.destroy()
      await s3db.close()
    },
  }
}
