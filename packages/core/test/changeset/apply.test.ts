import { describe, expect, it } from 'vitest'
import {
  applyChangeset,
  ChangeCapture,
  type Changeset,
  type ConflictInfo,
  encodeChangeset,
  RawText,
} from '../../src/changeset/index.js'
import { ApplyConflictError, CorruptError, InvalidArgumentError } from '../../src/errors.js'
import { memoryDb } from './harness.js'

const SCHEMA = `CREATE TABLE t(id INTEGER PRIMARY KEY, v, u UNIQUE);
  INSERT INTO t VALUES (1, 'a', 10), (2, 'b', 20), (3, 'c', 30)`

function db(schema = SCHEMA) {
  const d = memoryDb()
  d.exec(schema)
  return d
}

const rows = (d: ReturnType<typeof db>, table = 't') =>
  d.prepare(`SELECT * FROM ${table} ORDER BY 1`).raw(true).safeIntegers(true).all()

const cs = (changes: Changeset['tables'][0]['changes'], name = 't', pk = [1, 0, 0]): Changeset => ({
  tables: [{ name, pk, changes }],
})

describe('applyChangeset', () => {
  it('applies inserts, updates and deletes, outside and inside a transaction', () => {
    const change = cs([
      { op: 'INSERT', indirect: false, new: [4n, 'd', 40n] },
      {
        op: 'UPDATE',
        indirect: false,
        old: [1n, 'a', undefined],
        new: [undefined, 'A', undefined],
      },
      { op: 'DELETE', indirect: false, old: [2n, 'b', 20n] },
    ])
    const outside = db()
    expect(applyChangeset(outside, encodeChangeset(change))).toEqual({ applied: 3, omitted: 0 })
    expect(outside.inTransaction).toBe(false)
    const inside = db()
    inside.exec('BEGIN')
    expect(applyChangeset(inside, change)).toEqual({ applied: 3, omitted: 0 })
    expect(inside.inTransaction).toBe(true)
    inside.exec('COMMIT')
    expect(rows(inside)).toEqual(rows(outside))
    expect(rows(outside)).toEqual([
      [1n, 'A', 10n],
      [3n, 'c', 30n],
      [4n, 'd', 40n],
    ])
  })

  it('is all or nothing: a conflict aborts by default and nothing changes', () => {
    const d = db()
    const before = rows(d)
    let err: unknown
    try {
      applyChangeset(
        d,
        cs([
          { op: 'INSERT', indirect: false, new: [4n, 'd', 40n] },
          { op: 'DELETE', indirect: false, old: [9n, 'x', 90n] },
        ]),
      )
    } catch (e) {
      err = e
    }
    expect(err).toBeInstanceOf(ApplyConflictError)
    expect((err as ApplyConflictError).kind).toBe('NOTFOUND')
    expect((err as ApplyConflictError).table).toBe('t')
    expect((err as ApplyConflictError).code).toBe('ApplyConflict')
    expect(rows(d)).toEqual(before)
    expect(d.inTransaction).toBe(false)
  })

  it('classifies DATA, NOTFOUND, CONFLICT, CONSTRAINT and passes the current row', () => {
    const d = db()
    const seen: ConflictInfo[] = []
    const r = applyChangeset(
      d,
      cs([
        {
          op: 'UPDATE',
          indirect: false,
          old: [1n, 'zzz', undefined],
          new: [undefined, 'A', undefined],
        }, // DATA
        { op: 'DELETE', indirect: false, old: [9n, 'x', 90n] }, // NOTFOUND
        { op: 'INSERT', indirect: false, new: [2n, 'B', 21n] }, // CONFLICT (key exists)
        { op: 'INSERT', indirect: false, new: [5n, 'e', 30n] }, // CONSTRAINT (UNIQUE u)
      ]),
      {
        onConflict: (c) => {
          seen.push(c)
          return 'omit'
        },
      },
    )
    expect(seen.map((c) => c.kind)).toEqual(['DATA', 'NOTFOUND', 'CONFLICT', 'CONSTRAINT'])
    expect(seen[0]!.current).toEqual([1n, 'a', 10n])
    expect(seen[2]!.current).toEqual([2n, 'b', 20n])
    expect(seen[1]!.current).toBeUndefined()
    expect(r).toEqual({ applied: 0, omitted: 4 })
  })

  it("'replace' forces DATA (key-only match) and CONFLICT (delete then insert)", () => {
    const d = db()
    const r = applyChangeset(
      d,
      cs([
        {
          op: 'UPDATE',
          indirect: false,
          old: [1n, 'zzz', undefined],
          new: [undefined, 'A', undefined],
        },
        { op: 'DELETE', indirect: false, old: [3n, 'other', 0n] },
        { op: 'INSERT', indirect: false, new: [2n, 'B', 21n] },
      ]),
      { onConflict: () => 'replace' },
    )
    expect(r).toEqual({ applied: 3, omitted: 0 })
    expect(rows(d)).toEqual([
      [1n, 'A', 10n],
      [2n, 'B', 21n],
    ])
  })

  it("'replace' is refused for NOTFOUND and CONSTRAINT (SQLITE_MISUSE), rolled back", () => {
    const d = db()
    const before = rows(d)
    expect(() =>
      applyChangeset(d, cs([{ op: 'DELETE', indirect: false, old: [9n, 'x', 90n] }]), {
        onConflict: () => 'replace',
      }),
    ).toThrow(InvalidArgumentError)
    expect(rows(d)).toEqual(before)
  })

  it('defers constraints: a swap of unique values applies in any order', () => {
    const d = db()
    const swap = cs([
      {
        op: 'UPDATE',
        indirect: false,
        old: [1n, undefined, 10n],
        new: [undefined, undefined, 20n],
      },
      {
        op: 'UPDATE',
        indirect: false,
        old: [2n, undefined, 20n],
        new: [undefined, undefined, 10n],
      },
    ])
    expect(applyChangeset(d, swap)).toEqual({ applied: 2, omitted: 0 })
    expect(rows(d).map((r) => (r as unknown[])[2])).toEqual([20n, 10n, 30n])
  })

  it('defers constraints also when a column name holds a question mark', () => {
    // Regression: the retry built its SQL by patching '?' placeholders, and a value
    // that needs CAST(? AS TEXT) (text that is not UTF-8) was spliced into "u?".
    const d = db(`CREATE TABLE t(id INTEGER PRIMARY KEY, v, "u?" UNIQUE);
      INSERT INTO t VALUES (1, 'a', CAST(X'ff01' AS TEXT)), (2, 'b', CAST(X'ff02' AS TEXT))`)
    const x1 = new RawText(Buffer.from([0xff, 1]))
    const x2 = new RawText(Buffer.from([0xff, 2]))
    const swap = cs([
      { op: 'UPDATE', indirect: false, old: [1n, undefined, x1], new: [undefined, undefined, x2] },
      { op: 'UPDATE', indirect: false, old: [2n, undefined, x2], new: [undefined, undefined, x1] },
    ])
    expect(applyChangeset(d, swap)).toEqual({ applied: 2, omitted: 0 })
    expect(d.prepare('SELECT hex("u?") FROM t ORDER BY id').pluck().all()).toEqual(['FF02', 'FF01'])
  })

  it('checks foreign keys at the end (deferred), once for the whole changeset', () => {
    const schema = `CREATE TABLE p(id INTEGER PRIMARY KEY); CREATE TABLE c(id INTEGER PRIMARY KEY, pid REFERENCES p(id));
      INSERT INTO p VALUES (1)`
    // Child before parent in the changeset: fine, the check is deferred.
    const ordered: Changeset = {
      tables: [
        { name: 'c', pk: [1, 0], changes: [{ op: 'INSERT', indirect: false, new: [1n, 2n] }] },
        { name: 'p', pk: [1], changes: [{ op: 'INSERT', indirect: false, new: [2n] }] },
      ],
    }
    const ok = db(schema)
    expect(applyChangeset(ok, ordered).applied).toBe(2)
    // A dangling child: FOREIGN_KEY.
    const dangling: Changeset = {
      tables: [
        { name: 'c', pk: [1, 0], changes: [{ op: 'INSERT', indirect: false, new: [1n, 7n] }] },
      ],
    }
    const d = db(schema)
    const kinds: ConflictInfo[] = []
    expect(() =>
      applyChangeset(d, dangling, {
        onConflict: (c) => {
          kinds.push(c)
          return 'abort'
        },
      }),
    ).toThrow(ApplyConflictError)
    expect(kinds.map((k) => [k.kind, k.count])).toEqual([['FOREIGN_KEY', 1]])
    expect(rows(d, 'c')).toEqual([])
    // Deleting a referenced parent: FOREIGN_KEY too; 'omit' keeps the changes.
    const parentGone: Changeset = {
      tables: [{ name: 'p', pk: [1], changes: [{ op: 'DELETE', indirect: false, old: [1n] }] }],
    }
    const d2 = db(`${schema}; INSERT INTO c VALUES (5, 1)`)
    expect(applyChangeset(d2, parentGone, { onConflict: () => 'omit' })).toEqual({
      applied: 1,
      omitted: 0,
    })
    expect(rows(d2, 'p')).toEqual([])
    // With foreign keys off there is no check at all.
    const d3 = db(schema)
    d3.pragma('foreign_keys = OFF')
    expect(applyChangeset(d3, dangling).applied).toBe(1)
  })

  it('counts a violation a cascaded delete leaves behind (a grandchild without its parent)', () => {
    // Deleting g cascades to p, which c still references (RESTRICT is deferred too):
    // the changeset names neither p nor c, yet SQLite reports FOREIGN_KEY at the end.
    const schema = `CREATE TABLE g(id INTEGER PRIMARY KEY);
      CREATE TABLE p(id INTEGER PRIMARY KEY REFERENCES g(id) ON DELETE CASCADE);
      CREATE TABLE c(id INTEGER PRIMARY KEY, pid REFERENCES p(id) ON DELETE RESTRICT);
      INSERT INTO g VALUES (1); INSERT INTO p VALUES (1); INSERT INTO c VALUES (9, 1)`
    const deleteG: Changeset = {
      tables: [{ name: 'g', pk: [1], changes: [{ op: 'DELETE', indirect: false, old: [1n] }] }],
    }
    const d = db(schema)
    const kinds: ConflictInfo[] = []
    expect(() =>
      applyChangeset(d, deleteG, {
        onConflict: (c) => {
          kinds.push(c)
          return 'abort'
        },
      }),
    ).toThrow(ApplyConflictError)
    expect(kinds.map((k) => [k.kind, k.count])).toEqual([['FOREIGN_KEY', 1]])
    expect(rows(d, 'p')).toEqual([[1n]])
  })

  it('refuses schema mismatches instead of skipping them', () => {
    const d = db()
    const expectSchema = (c: Changeset, what: RegExp) => {
      let err: unknown
      try {
        applyChangeset(d, c)
      } catch (e) {
        err = e
      }
      expect(err).toBeInstanceOf(ApplyConflictError)
      expect((err as ApplyConflictError).kind).toBe('SCHEMA')
      expect((err as Error).message).toMatch(what)
    }
    expectSchema(
      cs([{ op: 'INSERT', indirect: false, new: [1n] }], 'missing', [1]),
      /does not exist/,
    )
    expectSchema(
      cs([{ op: 'INSERT', indirect: false, new: [9n, 1n, 1n, 1n] }], 't', [1, 0, 0, 0]),
      /4 columns but the target table has 3/,
    )
    expectSchema(
      cs([{ op: 'INSERT', indirect: false, new: [9n, 1n, 1n] }], 't', [0, 1, 0]),
      /PRIMARY KEY layout/,
    )
    // Fewer columns than the target (an older writer before an additive migration): accepted.
    const wider = db(`${SCHEMA}; ALTER TABLE t ADD COLUMN extra DEFAULT 'dflt'`)
    applyChangeset(wider, cs([{ op: 'INSERT', indirect: false, new: [9n, 'n', 90n] }]))
    expect(rows(wider).at(-1)).toEqual([9n, 'n', 90n, 'dflt'])
  })

  it('rejects corrupt bytes and patchsets without touching the database', () => {
    const d = db()
    expect(() => applyChangeset(d, new Uint8Array([0x54, 0x00]))).toThrow(CorruptError)
    expect(() => applyChangeset(d, { patchset: true, tables: [] })).toThrow(InvalidArgumentError)
    expect(rows(d)).toHaveLength(3)
  })

  it('keeps text exactly, invalid UTF-8 included', () => {
    const d = db()
    applyChangeset(
      d,
      cs([
        { op: 'INSERT', indirect: false, new: [7n, new RawText(Buffer.from([0xff, 0x41])), 70n] },
        {
          op: 'UPDATE',
          indirect: false,
          old: [1n, 'a', undefined],
          new: [undefined, new RawText(Buffer.from([0xc0])), undefined],
        },
      ]),
    )
    const got = d
      .prepare('SELECT typeof(v), hex(CAST(v AS BLOB)) FROM t WHERE id IN (1, 7) ORDER BY id')
      .raw(true)
      .all()
    expect(got).toEqual([
      ['text', 'C0'],
      ['text', 'FF41'],
    ])
    // ...and matches a row holding such text when deleting it.
    applyChangeset(
      d,
      cs([
        { op: 'DELETE', indirect: false, old: [7n, new RawText(Buffer.from([0xff, 0x41])), 70n] },
      ]),
    )
    expect(rows(d)).toHaveLength(3)
  })

  it('does not record what it applies when given the capture', () => {
    const d = db()
    const capture = new ChangeCapture(d)
    applyChangeset(d, cs([{ op: 'INSERT', indirect: false, new: [4n, 'd', 40n] }]), { capture })
    expect(capture.touched).toBe(false)
    applyChangeset(d, cs([{ op: 'INSERT', indirect: false, new: [5n, 'e', 50n] }]))
    expect(capture.touched).toBe(true)
  })

  it('reuses prepared statements across applies (fast path)', () => {
    const d = db('CREATE TABLE t(id INTEGER PRIMARY KEY, v)')
    const batch = (from: number) =>
      cs(
        Array.from({ length: 1000 }, (_, i) => ({
          op: 'INSERT' as const,
          indirect: false,
          new: [BigInt(from + i), 'x'],
        })),
        't',
        [1, 0],
      )
    applyChangeset(d, batch(0)) // warm up
    const start = performance.now()
    for (let k = 1; k <= 10; k++) applyChangeset(d, batch(k * 1000))
    const perRow = (performance.now() - start) / 10_000
    expect(perRow).toBeLessThan(0.05) // well under 50 µs a row
  })
})
