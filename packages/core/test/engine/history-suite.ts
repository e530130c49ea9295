/**
 * History tests shared by every store (memory, filesystem, MinIO): past reads
 * equal a plain-SQLite replay, time lookups, gc and the retention window,
 * restore and branch while writers run.
 */
import { type BlobStore, S3db } from '@s3db/core'
import { collectGarbage, DatabaseKeys } from '@s3db/core/internal'
import Database from 'better-sqlite3'
import { describe, expect, it } from 'vitest'
import { codeOf, dumpDatabase, dumpLive } from '../helpers.js'

/** A runtime whose wall clock the test moves (commit times come from it). */
export function movableClock(start = Date.now()) {
  let now = start
  return {
    runtime: {
      now: () => now,
      monotonic: () => performance.now(),
      random: () => Math.random(),
      sleep: (ms: number) => new Promise<void>((r) => setTimeout(r, ms)),
      newId: () => `${now.toString(36)}${Math.random().toString(36).slice(2, 10)}`.toUpperCase(),
    },
    set(t: number) {
      now = t
    },
    get now() {
      return now
    },
  }
}

/** Plain-SQLite replay of the statements of commits 1..seq. */
function replay(commits: Map<number, string[]>, seq: number): Record<string, unknown[]> {
  const db = new Database(':memory:')
  try {
    for (let s = 1; s <= seq; s++) for (const sql of commits.get(s) ?? []) db.exec(sql)
    return dumpDatabase(db)
  } finally {
    db.close()
  }
}

async function dumpAt(store: BlobStore, prefix: string, seq: number) {
  const past = await S3db.open(store, prefix, { at: { seq } })
  try {
    expect(past.pinnedSeq).toBe(seq)
    return await dumpLive(past)
  } finally {
    await past.close()
  }
}

export function historySuite(
  label: string,
  withStore: (fn: (store: BlobStore) => Promise<void>) => Promise<void>,
  options: { commits: number; every: number } = { commits: 500, every: 1 },
) {
  describe(`history (${label})`, () => {
    it(`reads every seq of a ${options.commits}-commit history with compactions and gc in between as a plain-SQLite replay`, async () => {
      await withStore(async (store) => {
        const prefix = 'hist/db/'
        const db = await S3db.open(store, prefix, {
          history: { retain: '7d' },
          autoCompact: 37,
        })
        const commits = new Map<number, string[]>()
        let rnd = 42
        const next = () => {
          rnd = (rnd * 1103515245 + 12345) % 2 ** 31
          return rnd
        }
        const run = async (sql: string) => {
          const before = db.stats().seq
          await db.update((tx) => tx.exec(sql))
          const seq = db.stats().seq
          // A statement that changed no row commits nothing.
          if (seq === before) return
          expect(seq).toBe(before + 1)
          commits.set(seq, [sql])
        }
        await run('CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)')
        let gcs = 0
        for (let i = 1; commits.size < options.commits; i++) {
          const id = next() % 40
          const op = next() % 3
          if (i === 250) await run('ALTER TABLE t ADD COLUMN w INTEGER DEFAULT 7')
          else if (op === 0) await run(`INSERT OR REPLACE INTO t (id, v) VALUES (${id}, 'v${i}')`)
          else if (op === 1) await run(`UPDATE t SET v = v || '.${i}' WHERE id % 5 = ${id % 5}`)
          else await run(`DELETE FROM t WHERE id = ${id}`)
          if (i % 61 === 0) {
            await db.compact()
            // Everything unreferenced by the current manifest is past its grace.
            const r = await db.gc({ gracePeriod: 0, minAge: 0 })
            expect(r.history.retainMs).toBe(7 * 86_400_000)
            gcs++
          }
        }
        expect(gcs).toBeGreaterThan(options.commits / 100)
        const last = db.stats().seq
        expect(last).toBe(options.commits)
        // Also after a final gc: every seq is still needed by the window.
        await db.gc({ gracePeriod: 0, minAge: 0 })
        for (let seq = 0; seq <= last; seq += options.every) {
          expect(await dumpAt(store, prefix, seq), `seq ${seq}`).toEqual(replay(commits, seq))
        }
        if (last % options.every !== 0)
          expect(await dumpAt(store, prefix, last)).toEqual(replay(commits, last))
        expect(await dumpLive(db)).toEqual(replay(commits, last))
        await db.close()
      })
    }, 600_000)

    it('maps times to seqs at commit boundaries', async () => {
      await withStore(async (store) => {
        const prefix = 'hist/time/'
        const clock = movableClock(Date.UTC(2026, 11, 6, 10, 0, 0))
        const t0 = clock.now
        const db = await S3db.open(store, prefix, {
          history: { retain: '30d' },
          runtime: clock.runtime,
          autoCompact: 3,
        })
        await db.update((tx) => tx.exec('CREATE TABLE t (id INTEGER PRIMARY KEY)'))
        const times: number[] = []
        for (let i = 1; i <= 8; i++) {
          clock.set(t0 + i * 60_000)
          await db.update((tx) => tx.run('INSERT INTO t VALUES (?)', [i]))
          times[db.stats().seq] = clock.now
        }
        for (let seq = 2; seq <= 9; seq++) {
          const t = times[seq]!
          for (const [time, want] of [
            [t, seq],
            [t + 1, seq],
            [t - 1, seq - 1],
          ] as const) {
            const past = await S3db.open(store, prefix, { at: { time } })
            expect(past.pinnedSeq, `${new Date(time).toISOString()}`).toBe(want)
            const n = await past.view(
              (tx) => tx.get<{ n: number }>('SELECT count(*) AS n FROM t')!.n,
            )
            expect(n).toBe(want - 1)
            await past.close()
          }
        }
        // ISO strings as the CLI passes them; the future is the current state.
        const iso = await S3db.open(store, prefix, {
          at: { time: new Date(times[5]!).toISOString() },
        })
        expect(iso.pinnedSeq).toBe(5)
        await iso.close()
        const future = await S3db.open(store, prefix, { at: { time: t0 + 86_400_000 } })
        expect(future.pinnedSeq).toBe(9)
        await future.close()
        expect(await codeOf(S3db.open(store, prefix, { at: { time: t0 - 3_600_000 } }))).toBe(
          'HistoryUnavailable',
        )
        expect(await codeOf(S3db.open(store, prefix, { at: { seq: 99 } }))).toBe('InvalidArgument')
        expect(await codeOf(S3db.open(store, 'hist/none/', { at: { seq: 0 } }))).toBe('NotFound')
        for (const retain of [undefined, -1, '7 days', 'forever'])
          expect(
            await codeOf(S3db.open(store, prefix, { history: { retain } as never })),
            String(retain),
          ).toBe('InvalidArgument')
        expect(
          await codeOf(S3db.open(store, prefix, { at: { seq: 1 }, localPath: '/tmp/x.sqlite' })),
        ).toBe('InvalidArgument')
        expect(await codeOf(S3db.open(store, prefix, { at: { time: 'yesterday' } }))).toBe(
          'InvalidArgument',
        )
        await db.close()
      })
    })

    it('a past handle is read-only and keeps reading its state while writers move on', async () => {
      await withStore(async (store) => {
        const prefix = 'hist/ro/'
        const db = await S3db.open(store, prefix, { history: { retain: '1d' } })
        await db.update((tx) => tx.exec('CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)'))
        await db.update((tx) => tx.run("INSERT INTO t VALUES (1, 'a')"))
        const past = await S3db.open(store, prefix, { at: { seq: 2 } })
        await db.update((tx) => tx.run("UPDATE t SET v = 'b'"))
        expect(await past.view((tx) => tx.all('SELECT * FROM t'))).toEqual([{ id: 1, v: 'a' }])
        expect(await codeOf(past.update((tx) => tx.run('DELETE FROM t')))).toBe('ReadOnly')
        expect(await codeOf(past.compact())).toBe('ReadOnly')
        expect(await codeOf(past.gc())).toBe('ReadOnly')
        expect(await codeOf(past.view((tx) => tx.run('DELETE FROM t')))).toBe('ReadOnly')
        await past.close()
        expect(await db.view((tx) => tx.all('SELECT v FROM t'))).toEqual([{ v: 'b' }])
        await db.close()
      })
    })

    it('gc keeps what the window needs and removes the rest, orphans included', async () => {
      await withStore(async (store) => {
        const prefix = 'hist/gc/'
        const keys = new DatabaseKeys(prefix)
        const hour = 3_600_000
        const start = Date.now()
        const clock = movableClock(start - 14 * hour)
        const db = await S3db.open(store, prefix, {
          history: { retain: '8h' },
          runtime: clock.runtime,
          autoCompact: false,
        })
        await db.update((tx) => tx.exec('CREATE TABLE t (id INTEGER PRIMARY KEY)'))
        const seqAt: number[] = []
        // Three phases 4 hours apart, each compacted.
        for (const phase of [0, 1, 2]) {
          clock.set(start - 14 * hour + phase * 4 * hour)
          for (let i = 0; i < 5; i++) {
            clock.set(clock.now + 1000)
            await db.update((tx) => tx.run('INSERT INTO t VALUES (?)', [phase * 100 + i]))
          }
          seqAt[phase] = db.stats().seq
          await db.compact()
        }
        // An orphan: a changeset upload that never committed.
        const orphan = keys.changeset('snap-gone', 'ORPHAN')
        await store.put(orphan, new Uint8Array([1, 2, 3]))
        // Phases at -14h, -10h, -6h; gc now keeps 8 hours: the window starts
        // between phases 1 and 2, so the state at the end of phase 1 is the oldest needed.
        const now = Date.now() + 60_000
        const r = await collectGarbage(store, keys, {
          gracePeriodMs: 0,
          minAgeMs: 0,
          now: () => now,
        })
        expect(r.deleted).toContain(orphan)
        expect(r.history.oldestSeq).toBeLessThanOrEqual(seqAt[1]!)
        expect(r.history.oldestSeq).toBeGreaterThan(seqAt[0]!)
        for (let seq = r.history.oldestSeq!; seq <= db.stats().seq; seq++) {
          const past = await S3db.open(store, prefix, { at: { seq } })
          await past.close()
        }
        expect(await codeOf(S3db.open(store, prefix, { at: { seq: seqAt[0]! } }))).toBe(
          'HistoryUnavailable',
        )
        // A dry run afterwards finds nothing else to delete.
        const again = await collectGarbage(store, keys, {
          gracePeriodMs: 0,
          minAgeMs: 0,
          now: () => now,
          dryRun: true,
        })
        expect(again.deleted).toEqual([])
        await db.close()
      })
    })

    it('restore publishes a past state as a new commit while writers run, and can be undone', async () => {
      await withStore(async (store) => {
        const prefix = 'hist/restore/'
        const db = await S3db.open(store, prefix, { history: { retain: '1d' }, autoCompact: 4 })
        await db.update((tx) => tx.exec('CREATE TABLE t (id INTEGER PRIMARY KEY, v INTEGER)'))
        for (let i = 1; i <= 10; i++)
          await db.update((tx) => tx.run('INSERT INTO t VALUES (?, ?)', [i, i]))
        const good = db.stats().seq
        const goodRows = await dumpLive(db)
        // The bad deploy.
        await db.update((tx) => tx.run('UPDATE t SET v = -1'))
        await db.update((tx) => tx.run('DELETE FROM t WHERE id > 5'))
        const other = await S3db.open(store, prefix)
        let writing = true
        let written = 0
        const writer = (async () => {
          while (writing) {
            await other.update((tx) => tx.run('INSERT INTO t VALUES (?, 0)', [1000 + written]))
            written++
          }
        })()
        const before = db.stats().seq
        // The writer stops whatever the restore does (else it outlives the test).
        const r = await S3db.restore(store, prefix, { at: { seq: good } }).finally(async () => {
          writing = false
          await writer
        })
        expect(r.restored).toBe(true)
        expect(r.fromSeq).toBe(good)
        expect(r.seq).toBeGreaterThan(before)
        expect(r.discarded.count).toBe(r.seq - 1 - good)
        // The state right after the restore is the good one.
        expect(await dumpAt(store, prefix, r.seq)).toEqual(goodRows)
        // Writers that ran on continue on top of it, as after any commit.
        const kept = await other.view((tx) =>
          tx.all('SELECT id, v FROM t WHERE id <= 10 ORDER BY id'),
        )
        expect(kept).toEqual(Array.from({ length: 10 }, (_, i) => ({ id: i + 1, v: i + 1 })))
        // Undo the undo: back to the state just before the restore.
        const beforeRestore = await dumpAt(store, prefix, r.seq - 1)
        const undo = await S3db.restore(store, prefix, { at: { seq: r.seq - 1 } })
        expect(undo.seq).toBeGreaterThan(r.seq)
        expect(await dumpAt(store, prefix, undo.seq)).toEqual(beforeRestore)
        // Schema version counts s3db migrations; plain DDL keeps it, so this restores.
        await db.update((tx) => tx.exec('CREATE TABLE u (id INTEGER PRIMARY KEY)'))
        const seqNow = db.stats().seq
        const plain = await S3db.restore(store, prefix, { at: { seq: good } })
        expect(plain.schemaVersion).toEqual({ before: 0, after: 0 })
        expect(seqNow).toBeLessThan(plain.seq)
        await other.close()
        await db.close()
      })
    })

    it('restore refuses another schema version without allowSchemaChange', async () => {
      await withStore(async (store) => {
        const prefix = 'hist/schema/'
        const m1 = {
          version: 1,
          name: 'one',
          up: (tx: { exec(s: string): void }) => tx.exec('CREATE TABLE a (id INTEGER PRIMARY KEY)'),
        }
        const m2 = {
          version: 2,
          name: 'two',
          up: (tx: { exec(s: string): void }) => tx.exec('CREATE TABLE b (id INTEGER PRIMARY KEY)'),
        }
        const db1 = await S3db.open(store, prefix, { history: { retain: '1d' }, migrations: [m1] })
        await db1.update((tx) => tx.run('INSERT INTO a VALUES (1)'))
        const v1 = db1.stats().seq
        await db1.close()
        const db2 = await S3db.open(store, prefix, { migrations: [m1, m2] })
        const listing = async () => {
          const out: string[] = []
          for await (const e of store.list(prefix)) out.push(`${e.key} ${e.etag}`)
          return out
        }
        const before = await listing()
        expect(await codeOf(S3db.restore(store, prefix, { at: { seq: v1 } }))).toBe(
          'SchemaMismatch',
        )
        expect(await listing()).toEqual(before)
        const r = await S3db.restore(store, prefix, { at: { seq: v1 }, allowSchemaChange: true })
        expect(r.schemaVersion).toEqual({ before: 2, after: 1 })
        expect(
          await db2.view((tx) => tx.all("SELECT name FROM sqlite_schema WHERE name = 'b'")),
        ).toEqual([])
        await db2.close()
      })
    })

    it('branch copies a state into an independent database while writers run; the source gc cannot break it', async () => {
      await withStore(async (store) => {
        const from = 'hist/main/'
        const to = 'hist/preview/'
        const db = await S3db.open(store, from, { history: { retain: '1d' }, autoCompact: 5 })
        await db.update((tx) => tx.exec('CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)'))
        for (let i = 1; i <= 12; i++)
          await db.update((tx) => tx.run("INSERT INTO t VALUES (?, 'x')", [i]))
        const at = db.stats().seq
        const expected = await dumpLive(db)
        let writing = true
        const writer = (async () => {
          for (let i = 100; writing; i++)
            await db.update((tx) => tx.run("INSERT INTO t VALUES (?, 'y')", [i]))
        })()
        const r = await S3db.branch(store, from, to, { at: { seq: at } })
        writing = false
        await writer
        expect(r.seq).toBe(at)
        expect(r.objects).toBeGreaterThanOrEqual(1)
        const branch = await S3db.open(store, to, { createIfMissing: false })
        expect(await dumpLive(branch)).toEqual(expected)
        // Independent: writes on either side stay there.
        await branch.update((tx) => tx.run("INSERT INTO t VALUES (999, 'branch')"))
        expect(await db.view((tx) => tx.get('SELECT * FROM t WHERE id = 999'))).toBeUndefined()
        // The source drops every object it no longer needs; the branch still opens cold.
        await S3db.retention(store, from, 0)
        await db.compact()
        await db.gc({ gracePeriod: 0, minAge: 0 })
        const cold = await S3db.open(store, to, { createIfMissing: false })
        expect((await dumpLive(cold)).t).toHaveLength(13)
        await cold.close()
        // Nothing of the branch lies outside its prefix, and bad input changes nothing.
        expect(await codeOf(S3db.branch(store, from, to))).toBe('AlreadyExists')
        expect(await codeOf(S3db.branch(store, from, 'hist/main/inner/'))).toBe('InvalidArgument')
        await branch.close()
        await db.close()
      })
    })
  })
}
