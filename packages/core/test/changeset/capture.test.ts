/**
 * One test per capture requirement. Most run through checkScenario, which compares
 * with SQLite's own session extension (sqlite-wasm) and cross-applies; see harness.ts.
 */

import { describe, expect, it } from 'vitest'
import {
  ChangeCapture,
  decodeChangeset,
  type InsertChange,
  RawText,
  type Value,
} from '../../src/changeset/index.js'
import { NoPrimaryKeyError } from '../../src/errors.js'
import { BetterEngine } from './engines.js'
import { checkScenario, memoryDb } from './harness.js'

const b = (h: string) => Buffer.from(h, 'hex')

/** Runs `fn` in a transaction on a fresh capture and returns the decoded changeset. */
function captureOf(setup: string, fn: (db: ReturnType<typeof memoryDb>) => void) {
  const db = memoryDb()
  db.exec(setup)
  const capture = new ChangeCapture(db)
  db.exec('BEGIN')
  capture.reset()
  fn(db)
  capture.syncSchema()
  const bytes = capture.changeset()
  db.exec('COMMIT')
  return { db, capture, bytes, cs: bytes === null ? null : decodeChangeset(bytes) }
}

describe('ChangeCapture against the session extension', () => {
  it('INSERT, UPDATE, DELETE; consolidation to original -> final per row', async () => {
    const r = await checkScenario({
      schema: 'CREATE TABLE t(id INTEGER PRIMARY KEY, a, b)',
      setup: [{ sql: "INSERT INTO t VALUES (1, 'a', 1), (2, 'b', 2), (3, 'c', 3), (4, 'd', 4)" }],
      work: [
        { sql: "INSERT INTO t VALUES (10, 'new', 0)" },
        { sql: "UPDATE t SET a = 'x' WHERE id = 1" },
        { sql: "UPDATE t SET a = 'y' WHERE id = 1" },
        { sql: 'DELETE FROM t WHERE id = 2' },
        { sql: "INSERT INTO t VALUES (11, 'gone', 0)" },
        { sql: 'DELETE FROM t WHERE id = 11' }, // insert then delete: nothing
        { sql: "UPDATE t SET a = 'z' WHERE id = 3" },
        { sql: "UPDATE t SET a = 'c' WHERE id = 3" }, // restored: nothing
        { sql: 'DELETE FROM t WHERE id = 4' },
        { sql: "INSERT INTO t VALUES (4, 'd2', 4)" }, // delete then insert: UPDATE
      ],
    })
    const cs = decodeChangeset(r.ours!)
    expect(cs.tables[0]!.changes.map((c) => c.op).sort()).toEqual([
      'DELETE',
      'INSERT',
      'UPDATE',
      'UPDATE',
    ])
    expect(r.sameBytes).toBe(true)
  })

  it('UPDATE of the key is a DELETE plus an INSERT', async () => {
    const r = await checkScenario({
      schema: 'CREATE TABLE t(id INTEGER PRIMARY KEY, a)',
      setup: [{ sql: "INSERT INTO t VALUES (1, 'a')" }],
      work: [{ sql: 'UPDATE t SET id = 5 WHERE id = 1' }],
    })
    expect(
      decodeChangeset(r.ours!)
        .tables[0]!.changes.map((c) => c.op)
        .sort(),
    ).toEqual(['DELETE', 'INSERT'])
    expect(r.sameBytes).toBe(true)
  })

  it('INSERT OR REPLACE, REPLACE, UPSERT', async () => {
    await checkScenario({
      schema: 'CREATE TABLE t(k TEXT PRIMARY KEY, v INT, n INT)',
      setup: [{ sql: "INSERT INTO t VALUES ('a', 1, 0), ('b', 2, 0)" }],
      work: [
        { sql: "INSERT OR REPLACE INTO t VALUES ('a', 10, 0)" },
        { sql: "REPLACE INTO t VALUES ('c', 3, 0)" },
        {
          sql: "INSERT INTO t VALUES ('b', 20, 0) ON CONFLICT(k) DO UPDATE SET n = n + 1, v = excluded.v",
        },
        { sql: "INSERT INTO t VALUES ('d', 4, 0) ON CONFLICT DO NOTHING" },
      ],
    })
  })

  it('REPLACE evicting another row through a UNIQUE index (recursive_triggers on)', async () => {
    const r = await checkScenario({
      schema: 'CREATE TABLE t(id INTEGER PRIMARY KEY, email TEXT UNIQUE, name TEXT)',
      setup: [{ sql: "INSERT INTO t VALUES (1, 'a@x', 'A'), (2, 'b@x', 'B')" }],
      work: [
        { sql: "INSERT OR REPLACE INTO t VALUES (3, 'a@x', 'C')" }, // evicts row 1
        { sql: "UPDATE OR REPLACE t SET email = 'b@x' WHERE id = 3" }, // evicts row 2
      ],
    })
    const ops = decodeChangeset(r.ours!)
      .tables[0]!.changes.map((c) => c.op)
      .sort()
    expect(ops).toEqual(['DELETE', 'DELETE', 'INSERT'])
    const db = memoryDb()
    const capture = new ChangeCapture(db)
    expect(db.pragma('recursive_triggers', { simple: true })).toBe(1)
    capture.close()
    expect(db.pragma('recursive_triggers', { simple: true })).toBe(0)
  })

  it('FK cascades (delete, update, set null)', async () => {
    await checkScenario({
      schema: `CREATE TABLE p(id INTEGER PRIMARY KEY, name);
        CREATE TABLE c(id INTEGER PRIMARY KEY, pid REFERENCES p(id) ON DELETE CASCADE ON UPDATE CASCADE, x);
        CREATE TABLE n(id INTEGER PRIMARY KEY, pid REFERENCES p(id) ON DELETE SET NULL)`,
      setup: [
        { sql: "INSERT INTO p VALUES (1, 'a'), (2, 'b'), (3, 'c')" },
        { sql: 'INSERT INTO c VALUES (10, 1, 0), (11, 1, 0), (12, 2, 0)' },
        { sql: 'INSERT INTO n VALUES (20, 3), (21, 1)' },
      ],
      work: [
        { sql: 'DELETE FROM p WHERE id = 1' },
        { sql: 'UPDATE p SET id = 7 WHERE id = 2' },
        { sql: 'DELETE FROM p WHERE id = 3' },
      ],
    })
  })

  it('a self-referencing ON UPDATE CASCADE that touches the moved row again', async () => {
    await checkScenario({
      schema: 'CREATE TABLE t(id INTEGER PRIMARY KEY, parent REFERENCES t(id) ON UPDATE CASCADE)',
      setup: [{ sql: 'INSERT INTO t VALUES (1, 1), (2, 1)' }],
      work: [{ sql: 'UPDATE t SET id = 5 WHERE id = 1' }],
    })
  })

  it('user triggers (their writes are captured too)', async () => {
    await checkScenario({
      schema:
        'CREATE TABLE t(id INTEGER PRIMARY KEY, v); CREATE TABLE audit(id INTEGER PRIMARY KEY, what)',
      triggers: `CREATE TRIGGER ti AFTER INSERT ON t BEGIN INSERT INTO audit(what) VALUES ('ins ' || NEW.id); END;
        CREATE TRIGGER tu BEFORE UPDATE ON t BEGIN INSERT INTO audit(what) VALUES ('upd ' || OLD.id); END`,
      setup: [{ sql: 'INSERT INTO t VALUES (1, 0)' }],
      work: [{ sql: 'INSERT INTO t VALUES (2, 0)' }, { sql: 'UPDATE t SET v = 1' }],
    })
  })

  it('savepoints rolled back leave no trace; released ones count', async () => {
    const r = await checkScenario({
      schema: 'CREATE TABLE t(id INTEGER PRIMARY KEY, v)',
      setup: [{ sql: 'INSERT INTO t VALUES (1, 1)' }],
      work: [
        { sql: 'SAVEPOINT a' },
        { sql: 'INSERT INTO t VALUES (2, 2)' },
        { sql: 'UPDATE t SET v = 9 WHERE id = 1' },
        { sql: 'ROLLBACK TO a' },
        { sql: 'SAVEPOINT b' },
        { sql: 'INSERT INTO t VALUES (3, 3)' },
        { sql: 'RELEASE b' },
        { sql: 'RELEASE a' },
      ],
    })
    const cs = decodeChangeset(r.ours!)
    expect(cs.tables[0]!.changes).toEqual([{ op: 'INSERT', indirect: false, new: [3n, 3n] }])
  })

  it('composite and WITHOUT ROWID keys with key order different from column order', async () => {
    const r = await checkScenario({
      schema: `CREATE TABLE w(a TEXT, b INT, c, PRIMARY KEY(b, a)) WITHOUT ROWID;
        CREATE TABLE r(x, y, z, PRIMARY KEY(z, x))`,
      setup: [
        { sql: "INSERT INTO w VALUES ('k', 1, 'v'), ('k', 2, 'v')" },
        { sql: "INSERT INTO r VALUES (1, 2, 'a')" },
      ],
      work: [
        { sql: "UPDATE w SET c = 'w' WHERE b = 1" },
        { sql: "UPDATE w SET a = 'j' WHERE b = 2" },
        { sql: "INSERT INTO r VALUES (1, 3, 'b')" },
        { sql: "UPDATE r SET y = 9 WHERE z = 'a'" },
      ],
    })
    const cs = decodeChangeset(r.ours!)
    expect(cs.tables.find((t) => t.name === 'w')!.pk).toEqual([2, 1, 0])
    expect(cs.tables.find((t) => t.name === 'r')!.pk).toEqual([2, 0, 1])
    expect(r.sameBytes).toBe(true)
  })

  it('every kind of value, exactly', async () => {
    const values: Value[] = [
      null,
      0n,
      9007199254740993n,
      -(2n ** 63n),
      2n ** 63n - 1n,
      -0,
      0.1,
      Number.POSITIVE_INFINITY,
      Number.NEGATIVE_INFINITY,
      5e-324,
      '',
      'é😀',
      'a\u0000b',
      '\uFEFF',
      '\uFFFD',
      Buffer.alloc(0),
      Buffer.from('61', 'hex'), // same bytes as the text 'a'
      'a',
    ]
    const work = values.map((v, i) => ({
      sql: 'INSERT INTO t VALUES (?, ?, ?)',
      params: [BigInt(i + 1), v as never, 1],
    }))
    work.push({ sql: "INSERT INTO t VALUES (100, CAST(x'ff' AS TEXT), 1)", params: [] })
    work.push({ sql: "INSERT INTO t VALUES (101, CAST(x'c080eda080' AS TEXT), 2.0)", params: [] })
    work.push({ sql: "UPDATE t SET v = CAST(x'fe' AS TEXT) WHERE id = 1", params: [] })
    const r = await checkScenario({
      schema: 'CREATE TABLE t(id INTEGER PRIMARY KEY, v, r REAL)',
      work,
    })
    const rows = decodeChangeset(r.ours!).tables[0]!.changes.map((c) => (c as InsertChange).new)
    const byId = new Map(rows.map((row) => [row[0], row]))
    expect(Object.is(byId.get(6n)![1], -0)).toBe(true)
    expect(byId.get(3n)![1]).toBe(9007199254740993n)
    expect(byId.get(100n)![1]).toEqual(new RawText(b('ff')))
    expect(byId.get(101n)![1]).toEqual(new RawText(b('c080eda080')))
    expect(byId.get(101n)![2]).toBe(2) // REAL column: 2.0 is stored as an integer, read as REAL
    expect(typeof byId.get(101n)![2]).toBe('number')
    expect(byId.get(16n)![1]).toEqual(Buffer.alloc(0))
    expect(byId.get(17n)![1]).toEqual(Buffer.from('a'))
    expect(r.sameBytes).toBe(true)
  })

  it('invalid UTF-8 and U+FFFD in keys', async () => {
    await checkScenario({
      schema: 'CREATE TABLE t(k TEXT PRIMARY KEY, v) WITHOUT ROWID',
      setup: [
        {
          sql: "INSERT INTO t VALUES (CAST(x'ff' AS TEXT), 1), (CAST(x'fe' AS TEXT), 2), ('\uFFFD', 3)",
        },
      ],
      work: [
        { sql: "UPDATE t SET v = 10 WHERE k = CAST(x'ff' AS TEXT)" },
        { sql: "DELETE FROM t WHERE k = CAST(x'fe' AS TEXT)" },
        { sql: "UPDATE t SET k = CAST(x'fd' AS TEXT) WHERE v = 3" },
        { sql: "INSERT INTO t VALUES (CAST(x'c0' AS TEXT), CAST(x'80' AS TEXT))" },
      ],
    })
  })

  it('generated columns are not part of the changeset', async () => {
    const r = await checkScenario({
      schema: `CREATE TABLE t(a INT, g1 AS (a * 2) VIRTUAL, id INTEGER PRIMARY KEY, g2 TEXT AS (typeof(a)) STORED)`,
      setup: [{ sql: 'INSERT INTO t(id, a) VALUES (1, 1)' }],
      work: [
        { sql: 'INSERT INTO t(id, a) VALUES (2, 2)' },
        { sql: 'UPDATE t SET a = 5 WHERE id = 1' },
      ],
    })
    expect(decodeChangeset(r.ours!).tables[0]!.pk).toEqual([0, 1])
  })

  it('rows whose key contains NULL are not recorded', async () => {
    const r = await checkScenario({
      schema: 'CREATE TABLE t(k TEXT PRIMARY KEY, v)',
      work: [
        { sql: "INSERT INTO t VALUES (NULL, 1), ('a', 2)" },
        { sql: "UPDATE t SET k = NULL WHERE k = 'a'" },
      ],
    })
    expect(r.ours).toBeNull()
  })

  it('a table created inside the transaction, and a column added to another', async () => {
    const r = await checkScenario({
      schema:
        "CREATE TABLE old(id INTEGER PRIMARY KEY, a); INSERT INTO old VALUES (1, 'x'), (2, 'y')",
      changesSchema: true,
      work: [
        { sql: "UPDATE old SET a = 'z' WHERE id = 1" },
        { sql: 'CREATE TABLE fresh(id INTEGER PRIMARY KEY, v)' },
        { sql: 'INSERT INTO fresh VALUES (1, 2)' },
        { sql: "ALTER TABLE old ADD COLUMN b DEFAULT 'dflt'" },
        { sql: "UPDATE old SET b = 'set' WHERE id = 2" },
        { sql: 'DELETE FROM old WHERE id = 1' },
      ],
    })
    expect(
      decodeChangeset(r.ours!)
        .tables.map((t) => t.name)
        .sort(),
    ).toEqual(['fresh', 'old'])
  })

  it('wide tables (more columns than a function takes arguments)', async () => {
    const n = 1200
    const cols = Array.from({ length: n }, (_, i) => `c${i}`)
    const r = await checkScenario({
      schema: `CREATE TABLE w(id INTEGER PRIMARY KEY, ${cols.join(', ')})`,
      sqliteCannotApply: true,
      setup: [{ sql: `INSERT INTO w(id, c0, c${n - 1}) VALUES (1, CAST(x'ff' AS TEXT), 'last')` }],
      work: [
        { sql: `UPDATE w SET c${n - 1} = 'changed', c500 = 5 WHERE id = 1` },
        { sql: `INSERT INTO w(id, c1100) VALUES (2, 'x')` },
        { sql: 'UPDATE w SET id = 3 WHERE id = 2' },
      ],
    })
    expect(decodeChangeset(r.ours!).tables[0]!.pk.length).toBe(n + 1)
  })
})

describe('ChangeCapture behaviour', () => {
  it('writes to a table without PRIMARY KEY fail with NoPrimaryKeyError and publish nothing', () => {
    const { db, cs } = captureOf(
      'CREATE TABLE nopk(a, b); CREATE TABLE ok(id INTEGER PRIMARY KEY)',
      (db) => {
        db.exec('INSERT INTO ok VALUES (1)')
        for (const sql of [
          'INSERT INTO nopk VALUES (1, 2)',
          'UPDATE nopk SET a = 1',
          'DELETE FROM nopk',
        ]) {
          let err: unknown
          try {
            db.exec(sql)
          } catch (e) {
            err = e
          }
          if (sql.startsWith('INSERT')) {
            expect(err).toBeInstanceOf(NoPrimaryKeyError)
            expect((err as NoPrimaryKeyError).table).toBe('nopk')
            expect((err as NoPrimaryKeyError).code).toBe('NoPrimaryKey')
          }
        }
      },
    )
    expect(db.prepare('SELECT count(*) FROM nopk').pluck().get()).toBe(0)
    expect(cs!.tables.map((t) => t.name)).toEqual(['ok'])
  })

  it('a write to a no-PRIMARY-KEY table from inside a user trigger fails the statement', () => {
    const db = memoryDb()
    db.exec(`CREATE TABLE t(id INTEGER PRIMARY KEY); CREATE TABLE log(msg);
      CREATE TRIGGER tl AFTER INSERT ON t BEGIN INSERT INTO log VALUES ('x'); END`)
    new ChangeCapture(db)
    expect(() => db.exec('INSERT INTO t VALUES (1)')).toThrow(NoPrimaryKeyError)
    expect(db.prepare('SELECT count(*) FROM t').pluck().get()).toBe(0)
  })

  it('read-only transactions and no-op writes produce no changeset', () => {
    const ro = captureOf(
      'CREATE TABLE t(id INTEGER PRIMARY KEY, v); INSERT INTO t VALUES (1, 1)',
      (db) => {
        db.prepare('SELECT * FROM t').all()
      },
    )
    expect(ro.capture.touched).toBe(false)
    expect(ro.bytes).toBeNull()
    const noop = captureOf(
      'CREATE TABLE t(id INTEGER PRIMARY KEY, v); INSERT INTO t VALUES (1, 1)',
      (db) => {
        db.exec('UPDATE t SET v = 1')
      },
    )
    expect(noop.capture.touched).toBe(true)
    expect(noop.bytes).toBeNull()
  })

  it('reset() forgets, changeset() does not reset', () => {
    const db = memoryDb()
    db.exec('CREATE TABLE t(id INTEGER PRIMARY KEY, v)')
    const capture = new ChangeCapture(db)
    db.exec('INSERT INTO t VALUES (1, 1)')
    const first = capture.changeset()
    expect(first).not.toBeNull()
    expect(capture.changeset()).toEqual(first)
    capture.reset()
    expect(capture.touched).toBe(false)
    expect(capture.changeset()).toBeNull()
  })

  it('paused() suspends recording (and the NoPrimaryKey check), nested', () => {
    const db = memoryDb()
    db.exec('CREATE TABLE t(id INTEGER PRIMARY KEY); CREATE TABLE nopk(a)')
    const capture = new ChangeCapture(db)
    const out = capture.paused(() => {
      db.exec('INSERT INTO t VALUES (1); INSERT INTO nopk VALUES (1)')
      capture.paused(() => db.exec('INSERT INTO t VALUES (2)'))
      db.exec('INSERT INTO t VALUES (3)')
      return 42
    })
    expect(out).toBe(42)
    expect(capture.touched).toBe(false)
    db.exec('INSERT INTO t VALUES (4)')
    expect(decodeChangeset(capture.changeset()!).tables[0]!.changes).toHaveLength(1)
  })

  it('syncSchema() is cheap and reports schema changes; triggers follow the schema', () => {
    const db = memoryDb()
    db.exec('CREATE TABLE a(id INTEGER PRIMARY KEY)')
    const capture = new ChangeCapture(db)
    expect(capture.syncSchema()).toBe(false)
    const start = performance.now()
    for (let i = 0; i < 10_000; i++) capture.syncSchema()
    expect((performance.now() - start) / 10_000).toBeLessThan(0.05) // < 50 µs each
    const version = db.pragma('schema_version', { simple: true })
    db.exec('CREATE TABLE b(id INTEGER PRIMARY KEY, v)')
    expect(capture.syncSchema()).toBe(true)
    expect(db.pragma('schema_version', { simple: true })).toBe((version as number) + 1) // TEMP triggers don't count
    expect(capture.syncSchema()).toBe(false)
    db.exec('INSERT INTO b VALUES (1, 1)')
    expect(decodeChangeset(capture.changeset()!).tables.map((t) => t.name)).toEqual(['b'])
    const triggers = () =>
      db.prepare("SELECT count(*) FROM temp.sqlite_master WHERE type = 'trigger'").pluck().get()
    expect(triggers()).toBe(6)
    db.exec('DROP TABLE b')
    capture.syncSchema()
    expect(triggers()).toBe(3)
  })

  it('survives a rolled-back DDL transaction', () => {
    const db = memoryDb()
    db.exec('CREATE TABLE a(id INTEGER PRIMARY KEY)')
    const capture = new ChangeCapture(db)
    db.exec('BEGIN')
    db.exec('CREATE TABLE b(id INTEGER PRIMARY KEY)')
    capture.syncSchema()
    db.exec('ROLLBACK')
    capture.reset()
    expect(capture.syncSchema()).toBe(true)
    db.exec('INSERT INTO a VALUES (1)')
    expect(decodeChangeset(capture.changeset()!).tables.map((t) => t.name)).toEqual(['a'])
  })

  it('ALTER TABLE DROP COLUMN: refused while triggers name the column, fine withoutTriggers()', () => {
    const db = memoryDb()
    db.exec('CREATE TABLE t(id INTEGER PRIMARY KEY, a, b)')
    const capture = new ChangeCapture(db)
    let err: unknown
    try {
      db.exec('ALTER TABLE t DROP COLUMN b')
    } catch (e) {
      err = e
    }
    expect(capture.isTriggerConflict(err)).toBe(true)
    expect(capture.isTriggerConflict(new Error('other'))).toBe(false)
    capture.withoutTriggers(() => db.exec('ALTER TABLE t DROP COLUMN b'))
    db.exec('INSERT INTO t VALUES (1, 2)')
    expect(decodeChangeset(capture.changeset()!).tables[0]!.pk).toEqual([1, 0])
    // RENAME COLUMN works directly (SQLite rewrites TEMP triggers too).
    db.exec('ALTER TABLE t RENAME COLUMN a TO aa')
    capture.syncSchema()
    db.exec('UPDATE t SET aa = 3')
  })

  it('close() removes the triggers and makes the function inert', () => {
    const db = memoryDb()
    db.exec('CREATE TABLE t(id INTEGER PRIMARY KEY); CREATE TABLE nopk(a)')
    const capture = new ChangeCapture(db)
    capture.close()
    expect(
      db.prepare("SELECT count(*) FROM temp.sqlite_master WHERE type = 'trigger'").pluck().get(),
    ).toBe(0)
    db.exec('INSERT INTO t VALUES (1); INSERT INTO nopk VALUES (1)')
    expect(() => capture.changeset()).toThrow(/closed/)
  })

  it('the capture function cannot be called from the main schema (directOnly)', () => {
    const db = memoryDb()
    db.exec('CREATE TABLE t(id INTEGER PRIMARY KEY)')
    new ChangeCapture(db)
    const fn = db
      .prepare(
        "SELECT name FROM pragma_function_list WHERE name LIKE '\\_s3db\\_capture\\_%' ESCAPE '\\'",
      )
      .pluck()
      .get()
    expect(fn).toBeDefined()
    expect(() => db.exec(`CREATE VIEW v AS SELECT ${fn}(0)`)).not.toThrow()
    expect(() => db.prepare('SELECT * FROM v').all()).toThrow(/unsafe use/)
  })

  it('INSERT ... RETURNING and auto-assigned rowids', () => {
    const { cs } = captureOf('CREATE TABLE t(id INTEGER PRIMARY KEY, v)', (db) => {
      expect(db.prepare('INSERT INTO t(v) VALUES (?) RETURNING id').pluck().get('a')).toBe(1)
      db.prepare('INSERT INTO t(v) VALUES (?)').run('b')
    })
    expect(cs!.tables[0]!.changes).toEqual([
      { op: 'INSERT', indirect: false, new: [1n, 'a'] },
      { op: 'INSERT', indirect: false, new: [2n, 'b'] },
    ])
  })

  it('works on a connection applying through BetterEngine helpers too', () => {
    const e = new BetterEngine()
    e.exec('CREATE TABLE t(id INTEGER PRIMARY KEY)')
    const capture = e.startCapture()
    expect(e.run('INSERT INTO t VALUES (1)').ok).toBe(true)
    expect(capture.touched).toBe(true)
    e.close()
  })
})
