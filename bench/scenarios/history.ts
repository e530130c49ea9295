/**
 * History (#21): what retention costs in stored bytes per 1000 commits, how long
 * opening a past seq of a 10 MB database takes, and what a branch costs in time
 * and requests.
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { type BlobStore, S3db } from '@s3db/core'
import { diffCounts, totalRequests } from '@s3db/core/internal'
import Database from 'better-sqlite3'
import { type BenchOptions, median } from '../lib/measure.ts'
import { type Row, report } from '../lib/report.ts'
import { openStore, storeKinds } from '../lib/stores.ts'

/** Bytes under the prefix, in total and by folder (snapshots, changesets, history). */
async function storedBytes(store: BlobStore, prefix: string): Promise<Record<string, number>> {
  const out: Record<string, number> = { total: 0, snapshots: 0, changesets: 0, history: 0 }
  for await (const e of store.list(prefix)) {
    const part = e.key.slice(prefix.length).split('/')[0]!
    out.total! += e.size
    if (part in out) out[part]! += e.size
  }
  return out
}

const MB = 1024 * 1024
const round = (x: number, d = 1) => Math.round(x * 10 ** d) / 10 ** d

export async function history(opts: BenchOptions): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 's3db-bench-history-'))
  const retention: Row[] = []
  const pastOpen: Row[] = []
  const branches: Row[] = []
  const commits = opts.quick ? 200 : 1000
  const rowsInDb = opts.quick ? 256 : 2560 // x 4000 bytes: 1 MB quick, 10 MB full
  try {
    const seed = join(dir, 'seed.sqlite')
    const sdb = new Database(seed)
    sdb.exec('CREATE TABLE blobs (id INTEGER PRIMARY KEY, data BLOB NOT NULL, n INTEGER NOT NULL)')
    const insert = sdb.prepare('INSERT INTO blobs (data, n) VALUES (randomblob(4000), 0)')
    sdb.transaction(() => {
      for (let i = 0; i < rowsInDb; i++) insert.run()
    })()
    sdb.close()
    // Retention and past opens: memory (no latency: bytes only) and the real stores.
    for (const kind of storeKinds(opts)) {
      if (opts.quick && kind === 's3') continue
      const s = await openStore(kind, {
        ...opts,
        latencyMs: kind === 'memory' ? opts.latencyMs : 0,
      })
      try {
        // Each compaction keeps a whole snapshot in the window, so the interval matters.
        for (const autoCompact of kind === 'memory' && !opts.quick ? [200, 1000] : [200]) {
          const sizes: Record<string, Record<string, number>> = {}
          for (const retain of ['0', '7d']) {
            const prefix = `bench/history-${retain}-${autoCompact}/`
            await S3db.init(s.counter, prefix, { from: seed })
            // Built through the unshaped store; a small change per commit (a counter).
            const db = await S3db.open(s.counter, prefix, { history: { retain }, autoCompact })
            for (let i = 0; i < commits; i++) {
              await db.update((tx) =>
                tx.run('UPDATE blobs SET n = n + 1 WHERE id = ?', [(i % rowsInDb) + 1]),
              )
            }
            // Both end as one snapshot: what remains beyond it is what history keeps.
            await db.compact()
            await db.gc({ gracePeriod: 0, minAge: 0 })
            sizes[retain] = await storedBytes(s.counter, prefix)
            await db.close()
          }
          const kept = (part: string) => sizes['7d']![part]! - sizes['0']![part]!
          retention.push({
            store: s.name,
            'db MB': round(sizes['0']!.total! / MB, 1),
            autoCompact,
            commits,
            'kept: snapshots MB': round(kept('snapshots') / MB, 2),
            'kept: changesets KB': round(kept('changesets') / 1024, 1),
            'kept: history KB': round(kept('history') / 1024, 1),
            'retention MB per 1000 commits': round(((kept('total') / commits) * 1000) / MB, 2),
          })
        }
        // Open a past seq (the middle of the history) vs the current state.
        const prefix = 'bench/history-7d-200/'
        const current = (await S3db.log(s.counter, prefix, { limit: 1 })).seq
        const times = { past: [] as number[], now: [] as number[] }
        let pastRequests = 0
        for (let round = 0; round < (opts.quick ? 2 : 3); round++) {
          for (const which of ['past', 'now'] as const) {
            const before = s.counter.snapshot()
            const t = performance.now()
            const db = await S3db.open(
              s.store,
              prefix,
              which === 'past' ? { at: { seq: Math.floor(current / 2) + 7 } } : {},
            )
            times[which].push(performance.now() - t)
            if (which === 'past')
              pastRequests = totalRequests(diffCounts(s.counter.snapshot(), before))
            await db.close()
          }
        }
        pastOpen.push({
          store: s.name,
          'db MB': round((rowsInDb * 4000) / MB),
          'open past seq ms': Math.round(median(times.past)),
          'open current ms': Math.round(median(times.now)),
          'past open requests': pastRequests,
        })
        // Branch: the current state right after a compaction, and a past seq.
        for (const [label, at] of [
          ['current', undefined],
          ['past seq', { seq: Math.floor(current / 2) + 7 }],
        ] as const) {
          const before = s.counter.snapshot()
          const t = performance.now()
          const r = await S3db.branch(s.store, prefix, `bench/branch-${label.replace(' ', '-')}/`, {
            at,
          })
          const ms = performance.now() - t
          const c = diffCounts(s.counter.snapshot(), before)
          branches.push({
            store: s.name,
            at: label,
            'objects copied': r.objects,
            'MB copied': round(r.bytes / MB, 2),
            ms: Math.round(ms),
            requests: totalRequests(c),
            'PUT/COPY': c.put,
            GET: c.get,
            LIST: c.list,
            'bytes via client': c.bytesIn + c.bytesOut,
          })
        }
      } finally {
        await s.cleanup()
      }
    }
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
  report('history-retention', retention, {
    note: 'stored bytes after gc (grace 0), autoCompact 200',
  })
  report('history-open-past', pastOpen, { latencyMs: opts.latencyMs })
  report('history-branch', branches, { latencyMs: opts.latencyMs })
}
