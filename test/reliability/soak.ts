/**
 * `npm run soak -- --minutes N [--rate 0.1] [--writers 4]`: a bounded soak. Runs
 * counter and list-append workloads with injected faults (every kind the
 * FaultInjectingBlobStore has: late-landing CAS requests and unclassified errors
 * after applying included; a fifth of the increments are aborted at a random
 * point) against the memory store, the filesystem store and MinIO (when one
 * can be provided), round after
 * round until the time is up, checking every round exactly. Prints throughput,
 * retries, indeterminate commits and the checkers' verdicts; exits 1 on any
 * violation.
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3'
import { type BlobStore, FileSystemBlobStore, MemoryBlobStore, S3BlobStore, S3db } from '@s3db/core'
import { FaultInjectingBlobStore } from '@s3db/core/internal'
import { provideS3 } from '../support/minio.ts'
import { appendWorkload, checkAppend, checkCounter, counterWorkload } from './workloads.ts'

const { values } = parseArgs({
  options: {
    minutes: { type: 'string', default: '1' },
    rate: { type: 'string', default: '0.1' },
    writers: { type: 'string', default: '4' },
  },
})
const deadline = Date.now() + Number(values.minutes) * 60_000
const rate = Number(values.rate)
const writerCount = Number(values.writers)

/** Faults injected over the whole soak, by kind. */
const byKind = new Map<string, number>()

interface Totals {
  rounds: number
  transactions: number
  acked: number
  indeterminate: number
  failed: number
  retries: number
  faults: number
  violations: string[]
  seconds: number
}

async function round(
  base: BlobStore,
  prefix: string,
  seed: number,
  kind: 'counter' | 'append',
  t: Totals,
): Promise<void> {
  const store = new FaultInjectingBlobStore(base, {
    seed,
    rate,
    manifestKey: `${prefix}manifest.json`,
  })
  store.enabled = false
  const admin = await S3db.open(store, prefix, { autoCompact: false })
  await admin.update((tx) =>
    tx.exec(
      kind === 'counter'
        ? 'CREATE TABLE counter (id INTEGER PRIMARY KEY, n INTEGER NOT NULL); INSERT INTO counter VALUES (1, 0); CREATE TABLE applied (id TEXT PRIMARY KEY)'
        : "CREATE TABLE list (id INTEGER PRIMARY KEY, items TEXT NOT NULL); INSERT INTO list VALUES (1, '[]')",
    ),
  )
  store.enabled = true
  let conflicts = 0
  const writers = await Promise.all(
    Array.from({ length: writerCount }, (_, i) =>
      S3db.open(store, prefix, {
        autoCompact: 8 + i,
        gcGracePeriod: 0,
        onEvent: (e) => (e.type === 'conflict' ? conflicts++ : 0),
      }),
    ),
  )
  const started = performance.now()
  let outcomes: Iterable<string>
  let problems: string[]
  if (kind === 'counter') {
    // A fifth of the increments carry an AbortSignal that fires at a random point.
    const run = await counterWorkload(writers, 20, 0.2)
    store.enabled = false
    await store.settled()
    const final = await admin.view((tx) => ({
      n: tx.get<{ n: number }>('SELECT n FROM counter')!.n,
      applied: tx.all<{ id: string }>('SELECT id FROM applied').map((r) => r.id),
    }))
    problems = checkCounter(run, final)
    outcomes = run.outcomes.values()
  } else {
    const run = await appendWorkload(writers, 15)
    store.enabled = false
    await store.settled()
    const final = JSON.parse(
      await admin.view((tx) => tx.get<{ items: string }>('SELECT items FROM list')!.items),
    ) as number[]
    problems = checkAppend(run, final)
    outcomes = run.outcomes.values()
  }
  t.seconds += (performance.now() - started) / 1000
  for (const o of outcomes) {
    t.transactions++
    if (o === 'acked') t.acked++
    else if (o === 'indeterminate') t.indeterminate++
    else t.failed++
  }
  t.rounds++
  t.retries += conflicts
  t.faults += store.total
  for (const [k, n] of Object.entries(store.injected)) byKind.set(k, (byKind.get(k) ?? 0) + n)
  t.violations.push(...problems.map((p) => `${kind} seed ${seed}: ${p}`))
  await Promise.all([admin, ...writers].map((db) => db.close()))
}

const s3 = await provideS3((m) => console.log(m))
const targets: Array<{
  name: string
  open(prefix: string): Promise<{ store: BlobStore; done(): Promise<void> }>
}> = [
  { name: 'memory', open: async () => ({ store: new MemoryBlobStore(), done: async () => {} }) },
  {
    name: 'filesystem',
    open: async () => {
      const dir = await mkdtemp(join(tmpdir(), 's3db-soak-'))
      const fs = await FileSystemBlobStore.open(dir)
      return {
        store: fs,
        done: async () => {
          await fs.close()
          await rm(dir, { recursive: true, force: true })
        },
      }
    },
  },
]
if (!('unavailable' in s3)) {
  const client = new S3Client({
    endpoint: s3.endpoint,
    region: s3.region,
    forcePathStyle: true,
    credentials: { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey },
  })
  const bucket = `soak-${Date.now().toString(36)}`
  await client.send(new CreateBucketCommand({ Bucket: bucket }))
  targets.push({
    name: 'minio',
    open: async () => ({ store: new S3BlobStore({ client, bucket }), done: async () => {} }),
  })
} else {
  console.log(`soak: MinIO skipped: ${s3.unavailable}`)
}

const totals = new Map(
  targets.map((t) => [
    t.name,
    {
      rounds: 0,
      transactions: 0,
      acked: 0,
      indeterminate: 0,
      failed: 0,
      retries: 0,
      faults: 0,
      violations: [] as string[],
      seconds: 0,
    },
  ]),
)
let seed = 1
try {
  while (Date.now() < deadline) {
    for (const target of targets) {
      const { store, done } = await target.open(`soak/${seed}/`)
      try {
        await round(
          store,
          `soak/${seed}/`,
          seed,
          seed % 2 ? 'counter' : 'append',
          totals.get(target.name)!,
        )
      } finally {
        await done()
      }
      seed++
    }
  }
} finally {
  if (!('unavailable' in s3)) await s3.stop()
}

let violations = 0
console.log(
  '\nstore       rounds  tx      acked   indet.  failed  tx/s    retries  faults  verdict',
)
for (const [name, t] of totals) {
  violations += t.violations.length
  console.log(
    [
      name.padEnd(10),
      String(t.rounds).padStart(6),
      String(t.transactions).padStart(6),
      String(t.acked).padStart(8),
      String(t.indeterminate).padStart(7),
      String(t.failed).padStart(7),
      (t.transactions / Math.max(t.seconds, 0.001)).toFixed(1).padStart(6),
      String(t.retries).padStart(8),
      String(t.faults).padStart(7),
      t.violations.length === 0 ? '  OK' : `  ${t.violations.length} VIOLATIONS`,
    ].join('  '),
  )
  for (const v of t.violations.slice(0, 10)) console.log(`  - ${v}`)
}
console.log(`faults by kind: ${[...byKind].map(([k, n]) => `${k} ${n}`).join(', ')}`)
console.log(
  `\nsoak: fault rate ${rate}, ${writerCount} writers, ${violations === 0 ? 'all checkers passed' : `${violations} violations`}`,
)
process.exit(violations === 0 ? 0 : 1)
