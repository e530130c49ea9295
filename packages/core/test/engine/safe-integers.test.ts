/**
 * Integers beyond Number.MAX_SAFE_INTEGER are never returned rounded: by default
 * reading one as a number raises UnsafeIntegerError naming the column; with the
 * `safeIntegers` option or `prepare(sql).safeIntegers()` it is read as a bigint,
 * written back and replicated exactly.
 */
import { describe, expect, it } from 'vitest'
import { isS3dbError, UnsafeIntegerError } from '../../src/errors.js'
import { MemoryBlobStore } from '../../src/store/memory-store.js'
import type { Tx } from '../../src/tx.js'
import { codeOf, expectReplayMatches, PREFIX, useDatabases } from '../helpers.js'

const openDb = useDatabases()

const BIG = 9_007_199_254_740_993n // 2^53 + 1: as a number it would read as ...992
const MAX = BigInt(Number.MAX_SAFE_INTEGER)

/** The error `fn` throws (fails the test when it throws none). */
function errorOf(fn: () => unknown): unknown {
  try {
    fn()
  } catch (err) {
    return err
  }
  throw new Error('expected an error, got none')
}

function expectUnsafe(err: unknown, column: string, table: string | undefined): void {
  expect(err).toBeInstanceOf(UnsafeIntegerError)
  const e = err as UnsafeIntegerError
  expect(e.code).toBe('UnsafeInteger')
  expect(e.column).toBe(column)
  expect(e.table).toBe(table)
  expect(e.message).toContain(`"${column}"`)
  expect(e.message).toContain('safeIntegers')
}

async function seeded(options: { safeIntegers?: boolean } = {}) {
  const store = new MemoryBlobStore()
  const db = await openDb(store, options)
  await db.update((tx) => {
    tx.exec('CREATE TABLE t (id INTEGER PRIMARY KEY, v INTEGER, r REAL, s TEXT)')
    tx.run('INSERT INTO t VALUES (?, ?, ?, ?)', [1, 7, 1e300, 'small'])
    tx.run('INSERT INTO t VALUES (?, ?, ?, ?)', [2, BIG, 2 ** 60, 'big'])
  })
  return { store, db }
}

/** Every way a Tx reads rows, each reading row `id`. */
const readers: Record<string, (tx: Tx, sql: string) => unknown> = {
  'tx.get': (tx, sql) => tx.get(sql),
  'tx.all': (tx, sql) => tx.all(sql),
  'tx.iterate': (tx, sql) => [...tx.iterate(sql)],
  'prepare().get': (tx, sql) => tx.prepare(sql).get(),
  'prepare().all': (tx, sql) => tx.prepare(sql).all(),
  'prepare().values': (tx, sql) => tx.prepare(sql).values(),
  'prepare().iterate': (tx, sql) => [...tx.prepare(sql).iterate()],
}

describe('reading integers beyond 2^53 by default', () => {
  it('raises UnsafeIntegerError naming the column and table in every read, in view and update', async () => {
    const { db } = await seeded()
    for (const [name, read] of Object.entries(readers)) {
      for (const run of [db.view.bind(db), db.update.bind(db)] as const) {
        const err = await run((tx) => errorOf(() => read(tx, 'SELECT id, v FROM t WHERE id = 2')))
        expectUnsafe(err, 'v', 't')
        // An alias is named as the result has it; an expression has no table.
        expectUnsafe(
          await run((tx) => errorOf(() => read(tx, 'SELECT v AS amount FROM t WHERE id = 2'))),
          'amount',
          't',
        )
        expectUnsafe(
          await run((tx) => errorOf(() => read(tx, 'SELECT v - 1 AS d FROM t WHERE id = 2'))),
          'd',
          undefined,
        )
        // The statement is usable again after the error (an iterator was closed).
        expect(await run((tx) => read(tx, 'SELECT id, v FROM t WHERE id = 1')), name).toEqual(
          name.endsWith('values')
            ? [[1, 7]]
            : name.endsWith('get')
              ? { id: 1, v: 7 }
              : [{ id: 1, v: 7 }],
        )
      }
    }
  })

  it('fails the update that reads one, publishing nothing', async () => {
    const { db } = await seeded()
    const seq = db.stats().seq
    const failed = db.update((tx) => {
      tx.run("UPDATE t SET s = 'touched' WHERE id = 1")
      return tx.get<{ v: number }>('SELECT v FROM t WHERE id = 2')!.v + 1
    })
    expect(await codeOf(failed)).toBe('UnsafeInteger')
    expect(db.stats().seq).toBe(seq)
    expect(await db.view((tx) => tx.get('SELECT s FROM t WHERE id = 1'))).toEqual({ s: 'small' })
  })

  it('reads the largest safe integers and REALs beyond 2^53 as numbers, and raises from 2^53 on', async () => {
    const { db } = await seeded()
    await db.update((tx) => {
      tx.run('INSERT INTO t (id, v) VALUES (3, ?), (4, ?)', [MAX, -MAX])
      tx.run('INSERT INTO t (id, v) VALUES (5, ?)', [MAX + 1n])
      tx.run('INSERT INTO t (id, v) VALUES (6, ?)', [-MAX - 1n])
    })
    for (const read of Object.values(readers)) {
      for (const [id, v] of [
        [3, Number.MAX_SAFE_INTEGER],
        [4, Number.MIN_SAFE_INTEGER],
      ]) {
        const rows = await db.view((tx) => read(tx, `SELECT v FROM t WHERE id = ${id}`))
        expect(JSON.stringify(rows)).toContain(`${v}`)
      }
      // A REAL that large is no integer: it reads as the number it is.
      // (2^60 in a REAL column is stored as an integer on disk, read as a REAL.)
      for (const [id, r] of [
        [1, 1e300],
        [2, 2 ** 60],
      ]) {
        const rows = await db.view((tx) => read(tx, `SELECT r FROM t WHERE id = ${id}`))
        expect(JSON.stringify(rows)).toContain(JSON.stringify(r))
      }
      for (const id of [5, 6]) {
        const err = await db.view((tx) =>
          errorOf(() => read(tx, `SELECT v FROM t WHERE id = ${id}`)),
        )
        expectUnsafe(err, 'v', 't')
      }
    }
  })

  it('raises for a statement that writes and returns one, without running it twice', async () => {
    const { db } = await seeded()
    const err = await codeOf(
      db.update((tx) => tx.get('UPDATE t SET v = v + 1 WHERE id = 2 RETURNING v')),
    )
    expect(err).toBe('UnsafeInteger')
    const { rows, v } = await db.update((tx) => {
      const rows = tx.all<{ id: number }>(
        'UPDATE t SET s = s || ? WHERE id IN (1, 2) RETURNING id',
        ['!'],
      )
      return { rows, v: tx.prepare('SELECT v, s FROM t WHERE id = 2').safeIntegers().get() }
    })
    expect(rows).toEqual([{ id: 1 }, { id: 2 }])
    expect(v).toEqual({ v: BIG, s: 'big!' })
  })

  it('gives lastInsertRowid as a bigint when it is beyond the safe range, never rounded', async () => {
    const { db } = await seeded()
    const results = await db.update((tx) => [
      tx.run('INSERT INTO t (id) VALUES (?)', [BIG + 10n]),
      tx.run('INSERT INTO t (id) VALUES (?)', [10]),
      tx.prepare('INSERT INTO t (id) VALUES (?)').safeIntegers().run([11]),
    ])
    expect(results.map((r) => r.lastInsertRowid)).toEqual([BIG + 10n, 10, 11n])
  })
})

describe('reading integers as bigint', () => {
  it('per statement: prepare(sql).safeIntegers() reads exactly, in view and update', async () => {
    const { db } = await seeded()
    for (const run of [db.view.bind(db), db.update.bind(db)] as const) {
      const got = await run((tx) => {
        const stmt = tx.prepare('SELECT id, v, r FROM t ORDER BY id')
        expect(stmt.safeIntegers()).toBe(stmt)
        return {
          all: stmt.all(),
          get: stmt.get(),
          values: stmt.values(),
          // Rows are objects again after values() (the statement is cached).
          afterValues: tx.get('SELECT id, v, r FROM t ORDER BY id'),
          iterate: [...stmt.iterate()],
          // Switching back gives checked numbers again.
          off: tx.prepare('SELECT v FROM t WHERE id = 1').safeIntegers(false).get(),
        }
      })
      expect(got.all).toEqual([
        { id: 1n, v: 7n, r: 1e300 },
        { id: 2n, v: BIG, r: 2 ** 60 },
      ])
      expect(got.get).toEqual({ id: 1n, v: 7n, r: 1e300 })
      expect(got.values).toEqual([
        [1n, 7n, 1e300],
        [2n, BIG, 2 ** 60],
      ])
      expect(got.afterValues).toEqual({ id: 1, v: 7, r: 1e300 })
      expect(got.iterate).toEqual(got.all)
      expect(got.off).toEqual({ v: 7 })
    }
    // Other handles for the same SQL keep the default.
    const err = await db.view((tx) => {
      tx.prepare('SELECT v FROM t WHERE id = 2').safeIntegers().get()
      return errorOf(() => tx.get('SELECT v FROM t WHERE id = 2'))
    })
    expectUnsafe(err, 'v', 't')
    expect(
      await db.view((tx) => errorOf(() => tx.prepare('SELECT 1').safeIntegers('yes' as never))),
    ).toMatchObject({ code: 'InvalidArgument' })
  })

  it('per database: the safeIntegers option reads every integer as a bigint', async () => {
    const { db } = await seeded({ safeIntegers: true })
    expect(await db.view((tx) => tx.all('SELECT id, v, r FROM t ORDER BY id'))).toEqual([
      { id: 1n, v: 7n, r: 1e300 },
      { id: 2n, v: BIG, r: 2 ** 60 },
    ])
    expect(await db.update((tx) => tx.get('SELECT v FROM t WHERE id = 2'))).toEqual({ v: BIG })
    expect(await db.view((tx) => [...tx.iterate('SELECT v FROM t ORDER BY id')])).toEqual([
      { v: 7n },
      { v: BIG },
    ])
    expect(await db.update((tx) => tx.run('INSERT INTO t (id) VALUES (3)').lastInsertRowid)).toBe(
      3n,
    )
    // One statement can still ask for checked numbers.
    expect(
      await db.view((tx) => tx.prepare('SELECT v FROM t WHERE id = 1').safeIntegers(false).get()),
    ).toEqual({ v: 7 })
    expect(await codeOf(openDb(new MemoryBlobStore(), { safeIntegers: 'yes' as never }))).toBe(
      'InvalidArgument',
    )
  })

  it('keeps a read-modify-write exact, and replicates big integers to another replica and back', async () => {
    const { store, db: a } = await seeded()
    const b = await openDb(store, { safeIntegers: true })
    const extremes = [2n ** 63n - 1n, -(2n ** 63n), BIG]
    await a.update((tx) => {
      for (const [i, v] of extremes.entries())
        tx.run('INSERT INTO t (id, v) VALUES (?, ?)', [10 + i, v])
    })
    // b reads a's changeset exactly and writes back on top of it.
    expect(await b.view((tx) => tx.all('SELECT v FROM t WHERE id >= 10 ORDER BY id'))).toEqual(
      extremes.map((v) => ({ v })),
    )
    await b.update((tx) => {
      const { v } = tx.get<{ v: bigint }>('SELECT v FROM t WHERE id = 2')!
      tx.run('UPDATE t SET v = ? WHERE id = 2', [v + 1n])
      tx.run('UPDATE t SET v = v - 1 WHERE id = 10')
    })
    // a sees b's changeset exactly (one statement at a time, as bigint).
    const back = await a.view((tx) =>
      tx.prepare('SELECT id, v FROM t WHERE id IN (2, 10) ORDER BY id').safeIntegers().all(),
    )
    expect(back).toEqual([
      { id: 2n, v: BIG + 1n },
      { id: 10n, v: 2n ** 63n - 2n },
    ])
    // ...and its default reads still refuse to round it.
    expectUnsafe(
      await a.view((tx) => errorOf(() => tx.get('SELECT v FROM t WHERE id = 2'))),
      'v',
      't',
    )
    // A fresh replica rebuilt from the store holds the same exact values.
    const fresh = await expectReplayMatches(store, PREFIX, [a, b])
    expect(JSON.stringify(fresh)).toContain(`${BIG + 1n}n`)
  })

  it('binds bigint parameters exactly, in every integer mode', async () => {
    const { db } = await seeded()
    const values = [BIG, -BIG, 2n ** 63n - 1n, -(2n ** 63n)]
    await db.update((tx) => {
      for (const [i, v] of values.entries())
        tx.run('INSERT INTO t (id, v) VALUES (?, ?)', [20 + i, v])
      // A named parameter and a comparison with a bigint are exact too.
      tx.run('UPDATE t SET s = :s WHERE v = :v', { s: 'found', v: BIG })
    })
    expect(
      await db.view((tx) =>
        tx.prepare('SELECT v, s FROM t WHERE id >= 20 ORDER BY id').safeIntegers().all(),
      ),
    ).toEqual(values.map((v, i) => ({ v, s: i === 0 ? 'found' : null })))
    // SQLite itself compares the stored values exactly with a bigint parameter.
    expect(await db.view((tx) => tx.get('SELECT count(*) AS n FROM t WHERE v = ?', [BIG]))).toEqual(
      { n: 2 },
    )
    expect(isS3dbError(new UnsafeIntegerError('v', 't'), 'UnsafeInteger')).toBe(true)
  })
})
