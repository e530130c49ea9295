/** Shared setup of the driver's tests: the fixture app schema on s3db and on plain better-sqlite3. */
import { fileURLToPath } from 'node:url'
import { type BlobStore, MemoryBlobStore, S3db, type S3dbOptions } from '@s3db/core'
import { drizzle, migrate, type S3dbDatabase } from '@s3db/drizzle'
import Database from 'better-sqlite3'
import {
  type BetterSQLite3Database,
  drizzle as drizzleBetterSqlite,
} from 'drizzle-orm/better-sqlite3'
import { migrate as migrateBetterSqlite } from 'drizzle-orm/better-sqlite3/migrator'
import * as schema from '../../../test/drizzle/fixtures/schema.js'

export { schema }
export type Schema = typeof schema

/** drizzle-kit's migrations of the fixture schema (0000 init, 0001 table rebuild, 0002 data). */
export const migrationsFolder = fileURLToPath(
  new URL('../../../test/drizzle/fixtures/drizzle', import.meta.url),
)

export const PREFIX = 'app/db/'

export interface Opened {
  s3db: S3db
  db: S3dbDatabase<Schema>
  close(): Promise<void>
}

/** An s3db database on `store` with a drizzle instance over it. */
export async function openDrizzle(
  store: BlobStore = new MemoryBlobStore(),
  options: S3dbOptions = {},
  prefix = PREFIX,
): Promise<Opened> {
  const s3db = await S3db.open(store, prefix, options)
  return { s3db, db: drizzle(s3db, { schema }), close: () => s3db.close() }
}

/** A migrated fixture database on a fresh memory store. */
export async function openMigrated(options: S3dbOptions = {}): Promise<Opened> {
  const opened = await openDrizzle(new MemoryBlobStore(), options)
  await migrate(opened.db, { migrationsFolder })
  return opened
}

/** drizzle's own better-sqlite3 driver on a migrated in-memory (or file) database. */
export function openBetterSqlite(file = ':memory:'): {
  db: BetterSQLite3Database<Schema>
  client: Database.Database
} {
  const client = new Database(file)
  const db = drizzleBetterSqlite(client, { schema })
  migrateBetterSqlite(db, { migrationsFolder })
  return { db, client }
}
