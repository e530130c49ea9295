import { describe, expect, it } from 'vitest'
import { FairShare } from '../../src/fair-share.js'
import { S3db } from '../../src/s3db.js'
import { MemoryBlobStore } from '../../src/store/memory-store.js'
import { LatencyBlobStore } from '../../src/testing/latency-store.js'
import { PREFIX } from '../helpers.js'

const RTT = 20

/** A FairShare on a fake clock; `random` is fixed unless given. */
function fake(random = () => 0.5) {
  let now = 1_000_000
  const fair = new FairShare({ now: () => now, random })
  return {
    fair,
    advance: (ms: number) => {
      now += ms
    },
    get now() {
      return now
    },
  }
}

/**
 * Drives back-to-back commits of 2 round trips each (honouring the pauses) for
 * `ms`; returns the pauses taken and the looks for waiting processes, with when
 * they started. `found` decides whether a look finds a waiting process.
 */
function runBusy(
  t: ReturnType<typeof fake>,
  ms: number,
  foreignSeenAt = () => Number.NEGATIVE_INFINITY,
  found = () => false,
  rtt = RTT,
): { at: number; ms: number }[] & { looks: number[] } {
  const pauses = [] as unknown as { at: number; ms: number }[] & { looks: number[] }
  pauses.looks = []
  const end = t.now + ms
  while (t.now < end) {
    const wait = t.fair.beforeCommit()
    if (wait > 0) {
      pauses.push({ at: t.now, ms: wait })
      t.advance(wait)
    }
    const look = t.fair.takeLook()
    if (look) pauses.looks.push(t.now)
    t.advance(2 * rtt)
    t.fair.committed(rtt, foreignSeenAt())
    if (look && found()) t.fair.sawWaiting()
  }
  return pauses
}

describe('FairShare', () => {
  it('makes a writer that seems alone look for waiting processes after a busy streak, ever more rarely, without pausing', () => {
    const t = fake()
    const start = t.now
    const pauses = runBusy(t, 20_000)
    expect(pauses.length).toBe(0)
    const looks = pauses.looks
    // First look after a busy streak of at least 500 ms (and 2 round trips).
    expect(looks[0]! - start).toBeGreaterThanOrEqual(500)
    expect(looks[0]! - start).toBeLessThan(500 + 4 * RTT)
    const gaps = looks.slice(1).map((at, i) => at - looks[i]!)
    expect(gaps.at(-1)!).toBeGreaterThan(1.5 * gaps[0]!) // doubling...
    expect(Math.max(...gaps)).toBeLessThan(140 * RTT) // ...up to a cap
    // At most one LIST per 500 ms of writing.
    expect(looks.length).toBeLessThanOrEqual(20_000 / 500)
  })

  it('looks after 500 ms even when round trips are slow (a loaded store: 250 ms)', () => {
    // After a stampede the winner commits back to back with every CAS slowed by
    // the load; the others' rounds end at each of its commits until it looks.
    const t = fake()
    const start = t.now
    const looks = runBusy(t, 10_000, undefined, undefined, 250).looks
    expect(looks[0]! - start).toBeGreaterThanOrEqual(500)
    expect(looks[0]! - start).toBeLessThanOrEqual(1000)
  })

  it('steps aside 3 to 5 round trips when a look finds a waiting process', () => {
    const t = fake()
    const pauses = runBusy(t, 3000, undefined, () => true)
    expect(pauses.length).toBeGreaterThan(0)
    for (const p of pauses) {
      expect(p.ms).toBeGreaterThanOrEqual(3 * RTT)
      expect(p.ms).toBeLessThanOrEqual(5 * RTT)
    }
    // Each pause follows a look.
    expect(pauses.looks.length).toBeGreaterThanOrEqual(pauses.length)
  })

  it('never pauses a writer whose commits have gaps', () => {
    const t = fake()
    for (let i = 0; i < 500; i++) {
      expect(t.fair.beforeCommit()).toBe(0)
      t.advance(2 * RTT)
      t.fair.committed(RTT, Number.NEGATIVE_INFINITY)
      t.advance(3 * RTT) // idle between writes
    }
  })

  it('pauses 1 to 2.5 round trips before each back-to-back commit while others commit', () => {
    for (const r of [0, 0.999]) {
      const t = fake(() => r)
      const pauses = runBusy(t, 2000, () => t.now - 100)
      expect(pauses.length).toBeGreaterThan(10)
      for (const p of pauses) {
        expect(p.ms).toBeGreaterThanOrEqual(RTT * 0.99)
        expect(p.ms).toBeLessThanOrEqual(2.5 * RTT)
      }
    }
  })

  it('stops being polite 5 s after the last foreign commit, then looks instead', () => {
    const t = fake()
    const expiry = t.now + 5000
    const pauses = runBusy(t, 7000, () => expiry - 5000)
    const polite = pauses.filter((p) => p.at < expiry)
    expect(polite.length).toBeGreaterThan(50)
    for (const p of polite) expect(p.ms).toBeLessThanOrEqual(2.5 * RTT)
    expect(pauses.filter((p) => p.at >= expiry)).toEqual([])
    // Busy all along: the first look comes at once.
    const looks = pauses.looks.filter((at) => at >= expiry)
    expect(looks[0]! - expiry).toBeLessThan(5 * RTT)
  })

  it('retries the first 16 lost races at once, then backs off at most 4 round trips', () => {
    const t = fake(() => 0.999)
    t.fair.committed(RTT, Number.NEGATIVE_INFINITY)
    for (let attempt = 1; attempt <= 16; attempt++) expect(t.fair.retryDelay(attempt, 40)).toBe(0)
    expect(t.fair.retryDelay(17, 40)).toBeGreaterThan(0)
    for (let attempt = 17; attempt < 100; attempt++)
      expect(t.fair.retryDelay(attempt, 40)).toBeLessThanOrEqual(4 * RTT)
  })
})

describe('fairness across writers', () => {
  it('lets every one of 3 back-to-back writers commit (no starvation)', async () => {
    // Three S3db instances are three processes to the protocol: own replica,
    // own queue. Without yielding, the first winner took every commit.
    const store = new LatencyBlobStore(new MemoryBlobStore(), { latencyMs: 10 })
    const setup = await S3db.open(store, PREFIX, { autoCompact: false })
    await setup.update((tx) => tx.exec('CREATE TABLE t (id INTEGER PRIMARY KEY, v INTEGER)'))
    await setup.update((tx) => tx.run('INSERT INTO t VALUES (0, 0), (1, 0), (2, 0)'))
    const writers = await Promise.all(
      [0, 1, 2].map(() => S3db.open(store, PREFIX, { autoCompact: false, maxRetries: 10_000 })),
    )
    const done = [0, 0, 0]
    let total = 0
    await Promise.all(
      writers.map(async (db, w) => {
        while (total < 60) {
          await db.update((tx) => tx.run('UPDATE t SET v = v + 1 WHERE id = ?', [w]))
          done[w]!++
          total++
        }
      }),
    )
    // A fair share is 20 each; starvation gives the losers 0 or 1.
    expect(Math.min(...done)).toBeGreaterThanOrEqual(5)
    await setup.view(() => 0)
    const rows = await setup.view((tx) => tx.all<{ v: number }>('SELECT v FROM t ORDER BY id'))
    expect(rows.map((r) => r.v)).toEqual(done)
    for (const db of [setup, ...writers]) await db.close()
  }, 60_000)
})
