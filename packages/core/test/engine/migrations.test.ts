import { describe, expect, it } from 'vitest'
import { isS3dbError } from '../../src/errors.js'
import type { Migration } from '../../src/migrate.js'
import { S3db } from '../../src/s3db.js'
import { MemoryBlobStore } from '../../src/store/memory-store.js'
import { expectReplayMatches, manifestOf, PREFIX, ScriptedStore, useDatabases } from '../helpers.js'

const openDb = useDatabases({ autoCompact: false })

const v1: Migration = {
  version: 1,
  name: 'create users',
  up: (tx) => {
    tx.exec('CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT NOT NULL)')
    tx.exec('CREATE TABLE migration_log (version INTEGER PRIMARY KEY, applied INTEGER NOT NULL)')
    tx.run('INSERT INTO migration_log VALUES (1, 1)')
  },
}
const v2: Migration = {
  version: 2,
  name: 'add email',
  compatible: true,
  up: (tx) => {
    tx.exec("ALTER TABLE users ADD COLUMN email TEXT NOT NULL DEFAULT ''")
    tx.run('INSERT INTO migration_log VALUES (2, 1)')
  },
}
const v3: Migration = {
  version: 3,
  name: 'rename name to full_name',
  up: (tx) => {
    tx.exec('ALTER TABLE users RENAME COLUMN name TO full_name')
    tx.run('INSERT INTO migration_log VALUES (3, 1)')
  },
}

describe('migrations', () => {
  it('apply on open as snapshot commits bumping schema_version', async () => {
    const store = new MemoryBlobStore()
    const db = await openDb(store, { migrations: [v2, v1] })
    const m = await manifestOf(store)
    expect(m.schemaVersion).toBe(2)
    expect(m.log).toEqual([])
    expect(await db.view((tx) => tx.all('SELECT * FROM migration_log'))).toEqual([
      { version: 1, applied: 1 },
      { version: 2, applied: 1 },
    ])
    // Reopening applies nothing again.
    const again = await openDb(store, { migrations: [v1, v2] })
    expect((await manifestOf(store)).seq).toBe(m.seq)
    expect(await again.view((tx) => tx.get('SELECT count(*) AS n FROM migration_log'))).toEqual({
      n: 2,
    })
  })

  it('are applied exactly once when 6 openers race', async () => {
    const store = new MemoryBlobStore()
    const dbs = await Promise.all(
      Array.from({ length: 6 }, () => openDb(store, { migrations: [v1, v2, v3] })),
    )
    expect((await manifestOf(store)).schemaVersion).toBe(3)
    for (const db of dbs) {
      expect(
        await db.view((tx) => tx.all('SELECT version FROM migration_log ORDER BY version')),
      ).toEqual([{ version: 1 }, { version: 2 }, { version: 3 }])
    }
    await expectReplayMatches(store, PREFIX, dbs)
  })

  it('race with writers without losing their writes', async () => {
    const store = new MemoryBlobStore()
    const base = await openDb(store, { migrations: [v1] })
    const writes = Array.from({ length: 10 }, (_, i) =>
      base.update((tx) => tx.run('INSERT INTO users (id, name) VALUES (?, ?)', [i, `u${i}`])),
    )
    const migrated = openDb(store, { migrations: [v1, v2] })
    await Promise.all([...writes, migrated])
    const db = await migrated
    expect(
      await db.view((tx) =>
        tx.all("SELECT count(*) AS n, min(email = '') AS defaulted FROM users"),
      ),
    ).toEqual([{ n: 10, defaulted: 1 }])
    await expectReplayMatches(store, PREFIX, [base, db])
  })

  it('run every migration the base lacks when the manifest went back under a commit (operator restore)', async () => {
    const store = new ScriptedStore()
    const key = `${PREFIX}manifest.json`
    await openDb(store, { migrations: [v1] })
    const atVersion1 = await store.get(key)
    if (atVersion1.notModified) throw new Error('unexpected 304')
    await openDb(store, { migrations: [v1, v2] })
    // This opener sees version 2 and prepares migration 3; just before its CAS
    // an operator puts back the version-1 manifest.
    store.beforeManifestPut.push(async () => {
      await store.put(key, atVersion1.body)
    })
    const db = await openDb(store, { migrations: [v1, v2, v3] })
    expect((await manifestOf(store)).schemaVersion).toBe(3)
    expect(
      await db.view((tx) => tx.all('SELECT version FROM migration_log ORDER BY version')),
    ).toEqual([{ version: 1 }, { version: 2 }, { version: 3 }])
    expect(
      await db.view((tx) => tx.all("SELECT name FROM pragma_table_info('users') ORDER BY cid")),
    ).toEqual([{ name: 'id' }, { name: 'full_name' }, { name: 'email' }])
    await expectReplayMatches(store, PREFIX, [db])
  })

  it('refuse an app whose migrations are behind (SchemaTooNew), unless the newer ones are compatible', async () => {
    const store = new MemoryBlobStore()
    await openDb(store, { migrations: [v1, v2] })
    // v2 is compatible: an app that knows only v1 keeps working.
    const old = await openDb(store, { migrations: [v1] })
    await old.update((tx) => tx.run("INSERT INTO users (id, name) VALUES (1, 'a')"))
    await openDb(store, { migrations: [v1, v2, v3] })
    const err = await S3db.open(store, PREFIX, { migrations: [v1] }).catch((e: unknown) => e)
    expect(isS3dbError(err, 'SchemaTooNew')).toBe(true)
    expect((err as Error).message).toMatch(/schema version 3/)
    // The already-open old instance may no longer write either.
    const werr = await old
      .update((tx) => tx.run("INSERT INTO users (id, full_name) VALUES (2, 'b')"))
      .catch((e: unknown) => e)
    expect(isS3dbError(werr, 'SchemaTooNew')).toBe(true)
  })

  it('surface a failing migration as MigrationFailed with nothing applied', async () => {
    const store = new MemoryBlobStore()
    const bad: Migration = {
      version: 2,
      name: 'broken',
      up: (tx) => tx.exec('ALTER TABLE nope ADD COLUMN x'),
    }
    const err = await S3db.open(store, PREFIX, { migrations: [v1, bad] }).catch((e: unknown) => e)
    expect(isS3dbError(err, 'MigrationFailed')).toBe(true)
    expect((err as Error).message).toMatch(/migration 2 \(broken\)/)
    expect((await manifestOf(store)).schemaVersion).toBe(1)
  })

  it('rebuild a table with foreign keys off and check foreign keys before commit', async () => {
    const store = new MemoryBlobStore()
    const schema: Migration = {
      version: 1,
      name: 'schema',
      up: (tx) => {
        tx.exec('CREATE TABLE parent (id INTEGER PRIMARY KEY)')
        tx.exec(
          'CREATE TABLE child (id INTEGER PRIMARY KEY, parent_id INTEGER REFERENCES parent(id))',
        )
        tx.run('INSERT INTO parent VALUES (1)')
        tx.run('INSERT INTO child VALUES (1, 1)')
      },
    }
    const rebuild: Migration = {
      version: 2,
      name: 'rebuild parent',
      foreignKeys: false,
      up: (tx) => {
        tx.exec('CREATE TABLE parent_new (id INTEGER PRIMARY KEY, label TEXT)')
        tx.exec("INSERT INTO parent_new SELECT id, 'p' || id FROM parent")
        tx.exec('DROP TABLE parent')
        tx.exec('ALTER TABLE parent_new RENAME TO parent')
      },
    }
    const db = await openDb(store, { migrations: [schema, rebuild] })
    expect(
      await db.view((tx) =>
        tx.all('SELECT * FROM child JOIN parent ON parent.id = child.parent_id'),
      ),
    ).toEqual([{ id: 1, parent_id: 1, label: 'p1' }])
    // Foreign keys are back on afterwards.
    const err = await db
      .update((tx) => tx.run('INSERT INTO child VALUES (2, 99)'))
      .catch((e: unknown) => e)
    expect(String(err)).toMatch(/FOREIGN KEY/)
    const breaking: Migration = {
      version: 3,
      name: 'orphans',
      foreignKeys: false,
      up: (tx) => {
        tx.run('DELETE FROM parent')
      },
    }
    const ferr = await S3db.open(store, PREFIX, { migrations: [schema, rebuild, breaking] }).catch(
      (e: unknown) => e,
    )
    expect(isS3dbError(ferr, 'MigrationFailed')).toBe(true)
    expect(String((ferr as Error).message)).toMatch(/foreign key check failed/)
  })
})
