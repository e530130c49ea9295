// One OS process of the `processes` scenario: one writer updating its own row
// (or the hot row) through a store shaped to the given latency, as a serverless
// instance with one request in flight would. The engine is loaded from `engine`
// (a built @s3db/core dist directory), so the same run can measure a baseline
// build. Protocol: prints "ready" once the database is open, starts writing when
// it reads a line on stdin, prints one JSON line with its results at the end.
import { createInterface } from 'node:readline'
import { pathToFileURL } from 'node:url'

const [engine, kind, location, prefix, procArg, mode, durationArg, latencyArg] =
  process.argv.slice(2)
const core = await import(pathToFileURL(`${engine}/index.js`).href)
const internal = await import(pathToFileURL(`${engine}/internal.js`).href)
const proc = Number(procArg)
const latencyMs = Number(latencyArg)

let base: { close?: () => Promise<void> } & object
if (kind === 'filesystem') {
  base = await core.FileSystemBlobStore.open(location)
} else {
  const { S3Client } = await import('@aws-sdk/client-s3')
  const s3 = JSON.parse(location!) as {
    endpoint: string
    region: string
    accessKeyId: string
    secretAccessKey: string
    bucket: string
  }
  const client = new S3Client({
    endpoint: s3.endpoint,
    region: s3.region,
    forcePathStyle: true,
    credentials: { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey },
  })
  base = new core.S3BlobStore({ client, bucket: s3.bucket })
}
const counter = new internal.CountingBlobStore(base)
const store = latencyMs > 0 ? new internal.LatencyBlobStore(counter, { latencyMs }) : counter
// Default settings: failures under contention count against the engine.
const db = await core.S3db.open(store, prefix, { autoCompact: false })
await db.view(() => 0)

const row = mode === 'hot' ? 0 : proc
process.stdout.write('ready\n')
const rl = createInterface({ input: process.stdin })
await new Promise<void>((resolve) => rl.once('line', () => resolve()))
rl.close()

const latencies: number[] = []
/** When each commit resolved, ms from the start. */
const doneAt: number[] = []
const failures: string[] = []
const before = counter.snapshot()
const start = performance.now()
const deadline = start + Number(durationArg)
while (performance.now() < deadline) {
  const t = performance.now()
  try {
    await db.update((tx: { run(sql: string, params: unknown[]): unknown }) =>
      tx.run('UPDATE t SET v = v + 1 WHERE id = ?', [row]),
    )
    latencies.push(performance.now() - t)
    doneAt.push(performance.now() - start)
  } catch (err) {
    failures.push(`${(err as { code?: string }).code ?? ''} ${(err as Error).message}`.trim())
  }
}
const requests = internal.totalRequests(internal.diffCounts(counter.snapshot(), before))
const elapsedMs = performance.now() - start
await db.close()
await base.close?.()
process.stdout.write(
  `${JSON.stringify({ proc, latencies, doneAt, failures, requests, elapsedMs })}\n`,
)
