/**
 * migrateToLatest: Kysely's Migrator inside one s3db update. All pending
 * migrations commit together or not at all, a conflict re-runs the whole
 * check-and-apply, and failures are thrown with the failing migration's name.
 */
import { isS3dbError, MemoryBlobStore, S3db, type S3dbEvent, WriteConflictError } from '@s3db/core'
import { KyselyMigrationError, migrateToLatest, S3dbKysely } from '@s3db/kysely'
import { type Kysely, sql } from 'kysely'
import { type Migration, type MigrationProvider, Migrator } from 'kysely/migration'
import { afterEach, describe, expect, it } from 'vitest'
import { PREFIX } from './fixtures.js'

// biome-ignore lint/suspicious/noExplicitAny: migrations are untyped, like Kysely's
type AnyDb = Kysely<any>

const provider = (migrations: Record<string, Migration>): MigrationProvider => ({
  getMigrations: async () => migrations,
})

const opened: S3db[] = []
interface Migrated {
  kysely_migration: { name: string; timestamp: string }
  person: { id: number; name: string }
  pet: { id: number; owner_id: number | null }
}

async function open(store: MemoryBlobStore, events?: S3dbEvent[]): Promise<S3dbKysely<Migrated>> {
  const s3db = await S3db.open(store, PREFIX, { onEvent: (e) => events?.push(e) })
  opened.push(s3db)
  return new S3dbKysely<Migrated>({ s3db })
}
afterEach(async () => {
  await Promise.all(opened.splice(0).map((d) => d.close()))
})

const tables = async (db: AnyDb) =>
  (await db.introspection.getTables({ withInternalKyselyTables: true })).map((t) => t.name).sort()

const basic = (runs: Record<string, number> = {}): Record<string, Migration> => ({
  '001_person': {
    async up(db: AnyDb) {
      runs['001_person'] = (runs['001_person'] ?? 0) + 1
      await db.schema
        .createTable('person')
        .addColumn('id', 'integer', (c) => c.primaryKey())
        .addColumn('name', 'text', (c) => c.notNull())
        .execute()
      await db.insertInto('person').values({ id: 1, name: 'seed' }).execute()
    },
  },
  '002_pet': {
    async up(db: AnyDb) {
      runs['002_pet'] = (runs['002_pet'] ?? 0) + 1
      await db.schema
        .createTable('pet')
        .addColumn('id', 'integer', (c) => c.primaryKey())
        .addColumn('owner_id', 'integer', (c) => c.references('person.id'))
        .execute()
    },
  },
})

describe('migrateToLatest', () => {
  it('applies every pending migration in one commit, then nothing', async () => {
    const store = new MemoryBlobStore()
    const events: S3dbEvent[] = []
    const db = await open(store, events)
    const results = await migrateToLatest(db, provider(basic()))
    expect(results).toEqual([
      { migrationName: '001_person', direction: 'Up', status: 'Success' },
      { migrationName: '002_pet', direction: 'Up', status: 'Success' },
    ])
    expect(events.filter((e) => e.type === 'commit')).toHaveLength(1)
    expect(await tables(db)).toEqual(['kysely_migration', 'kysely_migration_lock', 'person', 'pet'])
    const seq = db.s3db.stats().seq
    expect(await migrateToLatest(db, provider(basic()))).toEqual([])
    expect(db.s3db.stats().seq).toBe(seq)
    // Another instance sees the migrated schema.
    const other = await open(store)
    expect(await tables(other)).toEqual(await tables(db))
  })

  it('a failing migration throws KyselyMigrationError naming it; nothing of the run is applied', async () => {
    const store = new MemoryBlobStore()
    const db = await open(store)
    const migrations = {
      ...basic(),
      '003_broken': {
        async up(db: AnyDb) {
          await sql`CREATE TABLE will_vanish (id INTEGER PRIMARY KEY)`.execute(db)
          await sql`SELECT * FROM no_such_table`.execute(db)
        },
      },
    }
    const err = await migrateToLatest(db, provider(migrations)).then(
      () => undefined,
      (e: unknown) => e,
    )
    expect(err).toBeInstanceOf(KyselyMigrationError)
    const e = err as KyselyMigrationError
    expect(e.code).toBe('MigrationFailed')
    expect(e.migrationName).toBe('003_broken')
    expect(e.message).toMatch(/"003_broken".*no such table: no_such_table/)
    expect(e.results.map((r) => r.status)).toEqual(['Success', 'Success', 'Error'])
    // 001 and 002 ran in the same update: rolled back with 003.
    expect(await tables(db)).toEqual([])
  })

  it('errors before any migration (a missing executed migration) are thrown too', async () => {
    const db = await open(new MemoryBlobStore())
    await migrateToLatest(db, provider(basic()))
    const { '001_person': _, ...without001 } = basic()
    const err = await migrateToLatest(db, provider(without001)).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(KyselyMigrationError)
    expect((err as KyselyMigrationError).migrationName).toBeUndefined()
    expect((err as Error).message).toMatch(/previously executed migration 001_person is missing/)
  })

  it('a conflict re-runs the whole check-and-apply; each migration is committed once', async () => {
    const store = new MemoryBlobStore()
    const [a, b] = [await open(store), await open(store)]
    const runs: Record<string, number> = {}
    const runsB: Record<string, number> = {}
    let arrived = 0
    let release!: () => void
    const bothStarted = new Promise<void>((r) => {
      release = r
    })
    const racing = (counts: Record<string, number>) => {
      const m = basic(counts)
      const first = m['001_person']!
      m['001_person'] = {
        async up(db) {
          await first.up(db)
          // Both migrators decide on the same (empty) state before either commits.
          if (counts['001_person'] === 1 && ++arrived === 2) release()
          if (counts['001_person'] === 1) await bothStarted
        },
      }
      return provider(m)
    }
    const [ra, rb] = await Promise.all([
      migrateToLatest(a, racing(runs)),
      migrateToLatest(b, racing(runsB)),
    ])
    // One instance applied both migrations; the other re-ran and found them applied.
    expect([ra.length, rb.length].sort()).toEqual([0, 2])
    expect(runs['001_person']! + runsB['001_person']!).toBe(2)
    const names = await a.selectFrom('kysely_migration').select('name').orderBy('name').execute()
    expect(names.map((r) => r.name)).toEqual(['001_person', '002_pet'])
    expect(await a.selectFrom('person').selectAll().execute()).toEqual([{ id: 1, name: 'seed' }])
  })

  it('foreignKeys: false allows table rebuilds and checks foreign keys before commit', async () => {
    const db = await open(new MemoryBlobStore())
    await migrateToLatest(db, provider(basic()))
    await db.insertInto('pet').values({ id: 1, owner_id: 1 }).execute()
    const rebuild = (ownerOf: number): Record<string, Migration> => ({
      ...basic(),
      '003_rebuild_person': {
        async up(db: AnyDb) {
          await sql`CREATE TABLE person_new (id INTEGER PRIMARY KEY, name TEXT NOT NULL, nick TEXT)`.execute(
            db,
          )
          await sql`INSERT INTO person_new (id, name) SELECT id, name FROM person`.execute(db)
          await sql`DROP TABLE person`.execute(db)
          await sql`ALTER TABLE person_new RENAME TO person`.execute(db)
          await db.updateTable('pet').set({ owner_id: ownerOf }).execute()
        },
      },
    })
    // A dangling owner is found by the foreign key check: nothing applied.
    const err = await migrateToLatest(db, provider(rebuild(99)), { foreignKeys: false }).catch(
      (e: unknown) => e,
    )
    expect(isS3dbError(err, 'InvalidArgument')).toBe(true)
    expect((err as Error).message).toMatch(/foreign key check failed/)
    expect(await db.selectFrom('pet').select('owner_id').execute()).toEqual([{ owner_id: 1 }])
    // A clean rebuild commits (with foreign keys on, DROP TABLE person would fail).
    const results = await migrateToLatest(db, provider(rebuild(1)), { foreignKeys: false })
    expect(results.map((r) => r.migrationName)).toEqual(['003_rebuild_person'])
    const cols = await sql<{ name: string }>`select name from pragma_table_info('person')`.execute(
      db,
    )
    expect(cols.rows.map((r) => r.name)).toEqual(['id', 'name', 'nick'])
  })

  it("Kysely's own Migrator over S3dbKysely is atomic and reports a lost race as WriteConflictError", async () => {
    const store = new MemoryBlobStore()
    const [a, b] = [await open(store), await open(store)]
    const ok = await new Migrator({ db: a, provider: provider(basic()) }).migrateToLatest()
    expect(ok.error).toBeUndefined()
    expect(ok.results?.map((r) => r.status)).toEqual(['Success', 'Success'])
    let raced = 0
    let lastId = 1
    const racing = provider({
      ...basic(),
      '003_raced': {
        async up(db: AnyDb) {
          await db.schema
            .createTable('raced')
            .addColumn('id', 'integer', (c) => c.primaryKey())
            .execute()
          // Another instance commits while this migration runs (the first time only).
          if (!raced++)
            await b.insertInto('person').values({ id: ++lastId, name: 'other' }).execute()
        },
      },
    })
    const lost = await new Migrator({ db: a, provider: racing }).migrateToLatest()
    expect(lost.error).toBeInstanceOf(WriteConflictError)
    expect(await tables(a)).not.toContain('raced')
    expect(await a.selectFrom('person').select('id').orderBy('id').execute()).toEqual([
      { id: 1 },
      { id: 2 },
    ])
    // migrateToLatest re-runs instead.
    raced = 0
    expect((await migrateToLatest(a, racing)).map((r) => r.status)).toEqual(['Success'])
    expect(raced).toBe(2) // 003 ran twice: the lost race, then the re-run that committed
    expect(await tables(a)).toContain('raced')
  })
})
