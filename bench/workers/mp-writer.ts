// One OS process of the `processes` scenario: one writer updating its own row
// (or the hot row) through a store shaped to the given latency, as a serverless
// instance with one request in flight would. The engine is loaded from `engine`
// (a built @s3db/core dist directory), so the same run can measure a baseline
// build. Protocol: prints "ready" once the database is open, starts writing when
// it reads a line on stdin, prints one JSON line with its results at the end.
import { appendFileSync } from 'node:fs'
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
// Counts this process's manifest CASes that won (one per published batch).
let casWon = 0
const countedPut = async (key: string, body: Uint8Array, options?: { ifMatch?: string }) => {
  const res = await counter.put(key, body, options)
  if (key.endsWith('manifest.json') && options?.ifMatch) casWon++
  return res
}
const casCounting = new Proxy(counter, {
  get(target, prop) {
    if (prop === 'put') return countedPut
    const v = Reflect.get(target, prop)
    return typeof v === 'function' ? v.bind(target) : v
  },
})
// MP_TRACE=<dir>: every store request of this process, timed, in <dir>/<proc>.log (debugging).
const trace = process.env.MP_TRACE
const traced = trace
  ? new Proxy(casCounting, {
      get(target, prop) {
        const v = Reflect.get(target, prop)
        if (typeof v !== 'function') return v
        return (...args: unknown[]) => {
          const t = Date.now()
          const what = `${String(prop)} ${String(args[0]).replace(/.*\//, '').slice(0, 40)}${(args[1] as { ifMatch?: string })?.ifMatch || (args[2] as { ifMatch?: string })?.ifMatch ? ' CAS' : ''}`
          const r = v.apply(target, args)
          if (r && typeof r.then === 'function')
            r.then(
              () =>
                appendFileSync(`${trace}/${proc}.log`, `${t} ${Date.now()} p${proc} ${what} ok\n`),
              (e: { code?: string }) =>
                appendFileSync(
                  `${trace}/${proc}.log`,
                  `${t} ${Date.now()} p${proc} ${what} ${e.code}\n`,
                ),
            )
          else appendFileSync(`${trace}/${proc}.log`, `${t} ${t} p${proc} ${what}\n`)
          return r
        }
      },
    })
  : casCounting
const store = latencyMs > 0 ? new internal.LatencyBlobStore(traced, { latencyMs }) : traced
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
const casBefore = casWon
const start = performance.now()
const deadline = start + Number(durationArg)
while (performance.now() < deadline) {
  const t = performance.now()
  try {
    await db.update((tx: { run(sql: string, params: unknown[]): unknown }) =>
      tx.run('UPDATE t SET v = v + 1 WHERE id = ?', [row]),
    )
    if (trace)
      appendFileSync(
        `${trace}/${proc}.log`,
        `${Date.now()} ${Date.now()} p${proc} DONE ${Math.round(performance.now() - t)}\n`,
      )
    latencies.push(performance.now() - t)
    doneAt.push(performance.now() - start)
  } catch (err) {
    failures.push(`${(err as { code?: string }).code ?? ''} ${(err as Error).message}`.trim())
  }
}
const requests = internal.totalRequests(internal.diffCounts(counter.snapshot(), before))
const elapsedMs = performance.now() - start
const cas = casWon - casBefore
await db.close()
await base.close?.()
process.stdout.write(
  `${JSON.stringify({ proc, latencies, doneAt, failures, requests, elapsedMs, cas })}\n`,
)
