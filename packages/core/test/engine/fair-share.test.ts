import { describe, expect, it } from 'vitest'
import { NO_ROWS_HASH, offerId } from '../../src/co-commit.js'
import { FairShare } from '../../src/fair-share.js'
import { DatabaseKeys, epochOf } from '../../src/format/manifest.js'
import { S3db } from '../../src/s3db.js'
import type { CallOptions, PutBody, PutOptions } from '../../src/store/blob-store.js'
import { MemoryBlobStore } from '../../src/store/memory-store.js'
import { LatencyBlobStore } from '../../src/testing/latency-store.js'
import { manifestOf, PREFIX } from '../helpers.js'

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
    // The first look on the second commit of the process's life (processes
    // started at once find each other there)...
    expect(looks[0]! - start).toBe(2 * RTT)
    // ...the next after a busy streak of at least 500 ms (and 2 round trips).
    expect(looks[1]! - looks[0]!).toBeGreaterThanOrEqual(500)
    expect(looks[1]! - looks[0]!).toBeLessThan(500 + 4 * RTT)
    const gaps = looks.slice(2).map((at, i) => at - looks[i + 1]!)
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
    expect(looks[0]! - start).toBe(2 * 250)
    expect(looks[1]! - looks[0]!).toBeGreaterThanOrEqual(500)
    expect(looks[1]! - looks[0]!).toBeLessThanOrEqual(1000)
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

/** The kind of a changeset upload (co-commit.ts): o, w, p, or '-' for an unnamed one. */
const kindOf = (key: string) => /\/cs-q\d+-[0-9a-f]+-([owp])/.exec(key)?.[1] ?? '-'

/** A memory store recording changeset uploads and deletes, manifest CASes and looks. */
class RecordingStore extends MemoryBlobStore {
  readonly events: string[] = []
  looks = 0

  override async put(key: string, body: PutBody, options: PutOptions = {}) {
    if (key.endsWith('manifest.json')) {
      if (options.ifMatch) this.events.push('cas')
    } else if (key.includes('/changesets/')) this.events.push(`put ${kindOf(key)}`)
    return super.put(key, body, options)
  }

  override async delete(key: string, options?: CallOptions) {
    if (key.includes('/changesets/')) this.events.push(`delete ${kindOf(key)}`)
    return super.delete(key, options)
  }

  override async *list(prefix: string, options?: CallOptions) {
    // A look lists the uploads of 10 seqs (the seq's last digit left out).
    if (/\/cs-q\d{15}$/.test(prefix)) this.looks++
    yield* super.list(prefix, options)
  }
}

describe('fairness across writers', () => {
  it('a writer that won the start race finds the loser on its second commit and joins its round instead of ending it', async () => {
    const inner = new RecordingStore()
    const db = await S3db.open(new LatencyBlobStore(inner, { latencyMs: 2 }), PREFIX, {
      autoCompact: false,
    })
    await db.update((tx) => tx.exec('CREATE TABLE t (id INTEGER PRIMARY KEY, v INTEGER)'))
    // Another process ran on this manifest and lost to us: its plain upload waits.
    const m = await manifestOf(inner)
    const keys = new DatabaseKeys(PREFIX)
    const id = offerId(m, 'p', 1, NO_ROWS_HASH, '01JAAAAAAAAAAAAAAAAAAAAAAA')
    await inner.put(keys.changeset(epochOf(m.snapshot.key), id), new Uint8Array(0))
    inner.events.length = 0
    await db.update((tx) => tx.run('INSERT INTO t VALUES (1, 1)'))
    // The second commit looked, saw it, and sent no CAS with its plain upload:
    // it removed that, stepped aside, and committed as an offer (contended).
    expect(inner.events).toEqual(['put p', 'delete p', 'put o', 'cas'])
    const after = await manifestOf(inner)
    expect(after.seq).toBe(m.seq + 1)
    expect(kindOf(after.log.at(-1)!.key)).toBe('o')
    expect(await db.view((tx) => tx.get('SELECT v FROM t WHERE id = 1'))).toEqual({ v: 1 })
    await db.close()
  })

  it('a writer alone never steps aside: its own uploads, in the log or before a compaction, are not waiting processes', async () => {
    const inner = new RecordingStore()
    const store = new LatencyBlobStore(inner, { latencyMs: 5 })
    const first = await S3db.open(store, PREFIX, { autoCompact: false })
    await first.update((tx) => tx.exec('CREATE TABLE t (id INTEGER PRIMARY KEY, v INTEGER)'))
    inner.events.length = 0
    for (let i = 0; i < 6; i++)
      await first.update((tx) => tx.run('INSERT INTO t VALUES (?, 0)', [i]))
    // Looked on its second commit: its own earlier uploads are in the log.
    expect(inner.looks).toBe(1)
    // The log starts over at the snapshot; the uploads before it remain (GC's
    // grace), under the old snapshot's epoch.
    await first.compact()
    await first.close()
    // A new process (a cold start) looks on its second commit too, within 20
    // seqs of those uploads: a look lists the current epoch only.
    const second = await S3db.open(store, PREFIX, { autoCompact: false })
    for (let i = 6; i < 12; i++)
      await second.update((tx) => tx.run('INSERT INTO t VALUES (?, 0)', [i]))
    expect(inner.looks).toBe(2)
    expect(inner.events.filter((e) => e !== 'cas' && e !== 'put p')).toEqual([])
    // One CAS a write, and the compaction's.
    expect(inner.events.filter((e) => e === 'cas').length).toBe(13)
    await second.close()
  })

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
