/**
 * Many writers under injected store faults (>= 10% of requests, >= 4 writers):
 * nothing acknowledged is lost, nothing unacknowledged appears twice, and every
 * transaction is serializable. After each run a fresh replica built from the
 * store equals every live replica.
 */
import { execFile } from 'node:child_process'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { FileSystemBlobStore, MemoryBlobStore, S3db } from '@s3db/core'
import { FaultInjectingBlobStore } from '@s3db/core/internal'
import { afterEach, describe, expect, it } from 'vitest'
import { expectReplayMatches, PREFIX, tempDir } from '../../packages/core/test/helpers.js'
import {
  appendWorkload,
  bookingsWorkload,
  checkAppend,
  checkCounter,
  counterWorkload,
  doctorsWorkload,
} from './workloads.js'

const RATE = 0.1
const WRITERS = 4
const open: S3db[] = []
afterEach(async () => {
  await Promise.all(open.splice(0).map((db) => db.close().catch(() => {})))
})

async function writers(
  store: FaultInjectingBlobStore,
  n: number,
  setup: string,
): Promise<{ all: S3db[]; admin: S3db }> {
  store.enabled = false
  const admin = await S3db.open(store, PREFIX, { autoCompact: false })
  open.push(admin)
  await admin.update((tx) => tx.exec(setup))
  store.enabled = true
  const all: S3db[] = []
  for (let i = 0; i < n; i++) {
    // Every writer compacts now and then, so compaction races writers and readers too.
    const db = await S3db.open(store, PREFIX, { autoCompact: 10 + i, gcGracePeriod: 0 })
    open.push(db)
    all.push(db)
  }
  return { all, admin }
}

describe('fault injection', () => {
  for (const seed of [1, 2, 3]) {
    it(`counter increments stay exact (seed ${seed})`, { timeout: 120_000 }, async () => {
      const store = new FaultInjectingBlobStore(new MemoryBlobStore(), {
        seed,
        rate: RATE,
        manifestKey: `${PREFIX}manifest.json`,
      })
      const { all, admin } = await writers(
        store,
        WRITERS,
        'CREATE TABLE counter (id INTEGER PRIMARY KEY, n INTEGER NOT NULL); INSERT INTO counter VALUES (1, 0); CREATE TABLE applied (id TEXT PRIMARY KEY)',
      )
      const run = await counterWorkload(all, 25)
      await all[0]!.gc({ gracePeriod: 0 }).catch(() => {})
      store.enabled = false
      const final = await admin.view((tx) => ({
        n: tx.get<{ n: number }>('SELECT n FROM counter')!.n,
        applied: tx.all<{ id: string }>('SELECT id FROM applied').map((r) => r.id),
      }))
      expect(checkCounter(run, final)).toEqual([])
      const acked = [...run.outcomes.values()].filter((o) => o === 'acked').length
      expect(acked).toBeGreaterThan(50)
      expect(store.total).toBeGreaterThan(20)
      await expectReplayMatches(store, PREFIX, [admin, ...all])
      console.log(
        `seed ${seed}: ${acked}/${run.outcomes.size} acked, errors ${JSON.stringify(Object.fromEntries(run.errors))}, faults ${JSON.stringify(store.injected)}`,
      )
    })
  }

  for (const seed of [31, 32, 33]) {
    it(`stays exact under late-landing CAS requests, unclassified errors and aborts at random points (seed ${seed})`, {
      timeout: 120_000,
    }, async () => {
      const store = new FaultInjectingBlobStore(new MemoryBlobStore(), {
        seed,
        rate: 0.15,
        manifestKey: `${PREFIX}manifest.json`,
        faults: { 'late-landing': 3, 'unclassified-after': 3, 'error-after': 1, vanish: 1 },
      })
      const { all, admin } = await writers(
        store,
        WRITERS,
        'CREATE TABLE counter (id INTEGER PRIMARY KEY, n INTEGER NOT NULL); INSERT INTO counter VALUES (1, 0); CREATE TABLE applied (id TEXT PRIMARY KEY)',
      )
      let state = seed
      const random = () => {
        state = (state * 1103515245 + 12345) % 2147483648
        return state / 2147483648
      }
      const run = await counterWorkload(all, 25, 0.2, random)
      store.enabled = false
      await store.settled()
      const final = await admin.view((tx) => ({
        n: tx.get<{ n: number }>('SELECT n FROM counter')!.n,
        applied: tx.all<{ id: string }>('SELECT id FROM applied').map((r) => r.id),
      }))
      expect(checkCounter(run, final)).toEqual([])
      expect(store.injected['late-landing']).toBeGreaterThan(0)
      expect(store.injected['unclassified-after']).toBeGreaterThan(0)
      expect(run.errors.get('Aborted') ?? 0).toBeGreaterThan(0)
      await expectReplayMatches(store, PREFIX, [admin, ...all])
      const acked = [...run.outcomes.values()].filter((o) => o === 'acked').length
      console.log(
        `seed ${seed}: ${acked}/${run.outcomes.size} acked, errors ${JSON.stringify(Object.fromEntries(run.errors))}, faults ${JSON.stringify(store.injected)}`,
      )
    })
  }

  for (const seed of [11, 12]) {
    it(`list-append history is serializable (seed ${seed})`, { timeout: 120_000 }, async () => {
      const store = new FaultInjectingBlobStore(new MemoryBlobStore(), {
        seed,
        rate: RATE,
        manifestKey: `${PREFIX}manifest.json`,
      })
      const { all, admin } = await writers(
        store,
        WRITERS,
        "CREATE TABLE list (id INTEGER PRIMARY KEY, items TEXT NOT NULL); INSERT INTO list VALUES (1, '[]')",
      )
      const run = await appendWorkload(all, 20)
      store.enabled = false
      const final = JSON.parse(
        await admin.view((tx) => tx.get<{ items: string }>('SELECT items FROM list')!.items),
      ) as number[]
      expect(checkAppend(run, final)).toEqual([])
      expect(final.length).toBeGreaterThan(40)
      await expectReplayMatches(store, PREFIX, [admin, ...all])
    })
  }

  it('write skew never happens under serializable: doctors on call and room bookings', {
    timeout: 120_000,
  }, async () => {
    const store = new FaultInjectingBlobStore(new MemoryBlobStore(), {
      seed: 21,
      rate: RATE,
      manifestKey: `${PREFIX}manifest.json`,
    })
    const { all, admin } = await writers(
      store,
      WRITERS,
      'CREATE TABLE doctors (id INTEGER PRIMARY KEY, on_call INTEGER NOT NULL); INSERT INTO doctors VALUES (0, 1), (1, 1), (2, 0), (3, 0), (4, 0); CREATE TABLE bookings (id TEXT PRIMARY KEY, room INTEGER NOT NULL, start INTEGER NOT NULL, finish INTEGER NOT NULL)',
    )
    // Checked after every commit, from a separate reader: never zero doctors on call.
    let checks = 0
    let stop = false
    const violations: string[] = []
    const watcher = (async () => {
      while (!stop) {
        const n = await admin
          .view(
            (tx) => tx.get<{ n: number }>('SELECT count(*) AS n FROM doctors WHERE on_call = 1')!.n,
          )
          .catch(() => 1)
        if (n < 1) violations.push(`no doctor on call after check ${checks}`)
        checks++
        await new Promise((r) => setTimeout(r, 5))
      }
    })()
    await doctorsWorkload(all, 15)
    const booked = await bookingsWorkload(all, 12)
    // The reader checked while the writers ran (how often depends on the machine).
    const during = checks
    stop = true
    await watcher
    store.enabled = false
    expect(violations).toEqual([])
    expect(during).toBeGreaterThan(0)
    expect(
      await admin.view(
        (tx) => tx.get<{ n: number }>('SELECT count(*) AS n FROM doctors WHERE on_call = 1')!.n,
      ),
    ).toBeGreaterThanOrEqual(1)
    const overlaps = await admin.view((tx) =>
      tx.all(
        'SELECT a.id, b.id FROM bookings a JOIN bookings b ON a.room = b.room AND a.id < b.id AND a.start < b.finish AND b.start < a.finish',
      ),
    )
    expect(overlaps).toEqual([])
    expect(booked).toBeGreaterThan(3)
    expect(
      await admin.view((tx) => tx.get<{ n: number }>('SELECT count(*) AS n FROM bookings')!.n),
    ).toBe(booked)
    await expectReplayMatches(store, PREFIX, [admin, ...all])
  })

  it('counter increments stay exact with 4 OS processes under faults (filesystem store)', {
    timeout: 180_000,
  }, async () => {
    const { dir, cleanup } = await tempDir('faults-mp')
    try {
      const root = join(dir, 'store')
      const store = await FileSystemBlobStore.open(root)
      const admin = await S3db.open(store, PREFIX, { autoCompact: false })
      await admin.update((tx) =>
        tx.exec(
          'CREATE TABLE counter (id INTEGER PRIMARY KEY, n INTEGER NOT NULL); INSERT INTO counter VALUES (1, 0); CREATE TABLE applied (id TEXT PRIMARY KEY)',
        ),
      )
      const script = fileURLToPath(new URL('./fixtures/fault-writer.mjs', import.meta.url))
      const outs = await Promise.all(
        Array.from({ length: WRITERS }, (_, w) =>
          promisify(execFile)(process.execPath, [
            script,
            root,
            PREFIX,
            `p${w}`,
            '25',
            String(100 + w),
          ]),
        ),
      )
      const outcomes = new Map<string, 'acked' | 'failed' | 'indeterminate'>()
      let faults = 0
      for (const { stdout } of outs) {
        for (const line of stdout.trim().split('\n')) {
          const [what, id] = line.split(' ')
          if (what === 'faults') faults += Number(id)
          else outcomes.set(id!, what as 'acked' | 'failed' | 'indeterminate')
        }
      }
      const final = await admin.view((tx) => ({
        n: tx.get<{ n: number }>('SELECT n FROM counter')!.n,
        applied: tx.all<{ id: string }>('SELECT id FROM applied').map((r) => r.id),
      }))
      expect(checkCounter({ outcomes, errors: new Map() }, final)).toEqual([])
      expect([...outcomes.values()].filter((o) => o === 'acked').length).toBeGreaterThan(60)
      expect(faults).toBeGreaterThan(20)
      await expectReplayMatches(store, PREFIX, [admin])
      await admin.close()
      await store.close()
    } finally {
      await cleanup()
    }
  })
})
