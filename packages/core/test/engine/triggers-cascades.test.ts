/**
 * Regression (found with the changeset engineer): a commit's changeset already
 * holds the rows its user triggers and foreign-key actions changed, but applying
 * it fires them again on the replica. Replicas must converge to the log, not
 * report divergence (which made any writing trigger or ON DELETE CASCADE fatal).
 */
import { afterEach, expect, it } from 'vitest'
import { S3db } from '../../src/s3db.js'
import { MemoryBlobStore } from '../../src/store/memory-store.js'
import { expectReplayMatches, PREFIX } from '../helpers.js'

const open: S3db[] = []
afterEach(async () => {
  await Promise.all(open.splice(0).map((db) => db.close()))
})

it('replicates writes whose triggers and foreign-key actions changed other rows', async () => {
  const store = new MemoryBlobStore()
  const [a, b] = await Promise.all([
    S3db.open(store, PREFIX, { autoCompact: false }),
    S3db.open(store, PREFIX, { autoCompact: false }),
  ])
  open.push(a!, b!)
  await a!.update((tx) =>
    tx.exec(`
      CREATE TABLE parent (id INTEGER PRIMARY KEY, name TEXT);
      CREATE TABLE child (id INTEGER PRIMARY KEY, parent_id INTEGER REFERENCES parent(id) ON DELETE CASCADE ON UPDATE CASCADE, note TEXT);
      CREATE TABLE pet (id INTEGER PRIMARY KEY, owner INTEGER REFERENCES parent(id) ON DELETE SET NULL ON UPDATE CASCADE);
      CREATE TABLE audit (id INTEGER PRIMARY KEY, what TEXT NOT NULL);
      CREATE TRIGGER child_ins AFTER INSERT ON child BEGIN INSERT INTO audit (what) VALUES ('child ' || NEW.id); END;
      CREATE TRIGGER child_upd AFTER UPDATE OF note ON child BEGIN UPDATE parent SET name = name || '!' WHERE id = NEW.parent_id; END;
    `),
  )
  await a!.update((tx) => {
    tx.run("INSERT INTO parent VALUES (1, 'one'), (2, 'two')")
    tx.run("INSERT INTO child VALUES (10, 1, 'a'), (11, 1, 'b'), (20, 2, 'c')")
    tx.run('INSERT INTO pet VALUES (100, 1), (101, 2)')
  })
  expect(await b!.view((tx) => tx.get('SELECT count(*) AS n FROM audit'))).toEqual({ n: 3 })
  await a!.update((tx) => tx.run("UPDATE child SET note = 'x' WHERE id = 20"))
  await a!.update((tx) => tx.run('UPDATE parent SET id = 3 WHERE id = 2'))
  await a!.update((tx) => tx.run('DELETE FROM parent WHERE id = 1'))
  expect(await b!.view((tx) => tx.all('SELECT * FROM child ORDER BY id'))).toEqual([
    { id: 20, parent_id: 3, note: 'x' },
  ])
  expect(await b!.view((tx) => tx.all('SELECT * FROM pet ORDER BY id'))).toEqual([
    { id: 100, owner: null },
    { id: 101, owner: 3 },
  ])
  expect(await b!.view((tx) => tx.all('SELECT * FROM parent'))).toEqual([{ id: 3, name: 'two!' }])
  // b writes too (its triggers fire locally, a applies the result).
  await b!.update((tx) => tx.run("INSERT INTO child VALUES (30, 3, 'd')"))
  await expectReplayMatches(store, PREFIX, [a!, b!])
  const fresh = await S3db.open(store, PREFIX)
  open.push(fresh)
  expect(await fresh.view((tx) => tx.get('SELECT count(*) AS n FROM audit'))).toEqual({ n: 4 })
})

it('replicates an update that changes a key only in type (integer 1 to real 1.0), which no changeset can express', async () => {
  const store = new MemoryBlobStore()
  const [a, b] = await Promise.all([
    S3db.open(store, PREFIX, { autoCompact: false }),
    S3db.open(store, PREFIX, { autoCompact: false }),
  ])
  open.push(a!, b!)
  // A key column without affinity keeps 1 and 1.0 apart in type, equal to SQL.
  await a!.update((tx) => tx.exec('CREATE TABLE t (k, n INTEGER, v REAL, PRIMARY KEY (k, n))'))
  await a!.update((tx) => tx.run('INSERT INTO t VALUES (1, 2, 1.0)'))
  const events: string[] = []
  const c = await S3db.open(store, PREFIX, {
    autoCompact: false,
    onEvent: (e) => events.push(e.type),
  })
  open.push(c)
  await a!.update((tx) => tx.run('UPDATE t SET k = v'))
  const rows = (db: S3db) => db.view((tx) => tx.all('SELECT k, typeof(k) AS type, n FROM t'))
  const expected = [{ k: 1, type: 'real', n: 2 }]
  expect(await rows(a!)).toEqual(expected)
  expect(await rows(b!)).toEqual(expected)
  expect(await rows(c)).toEqual(expected)
  // Published as a snapshot, so replicas install it rather than diverge.
  expect(events).not.toContain('rebuild')
  await expectReplayMatches(store, PREFIX, [a!, b!, c])
})
