/**
 * Invokes the Lambda handler many times concurrently, the way Lambda scales
 * out: N warm containers (module instances spread over a few OS processes),
 * each running one invocation at a time, all incrementing one counter in the
 * same s3db database. Then checks the result is exact and prints what each
 * invocation cost in store requests.
 *
 *   node examples/lambda/invoke-many.ts [--invocations 200] [--concurrency 16] [--processes 4]
 *
 * Store: S3DB_URL=s3://bucket/prefix/ (+ AWS env; AWS_ENDPOINT_URL for MinIO),
 * else the filesystem store in S3DB_DATA_DIR (default .data/store).
 * Exit code 0 only if the counter equals the number of successful invocations.
 */
import { spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import type { InitLine, InvocationLine } from './container.ts'

const { values } = parseArgs({
  options: {
    invocations: { type: 'string', default: '200' },
    concurrency: { type: 'string', default: '16' },
    processes: { type: 'string', default: '4' },
  },
})
const total = Number(values.invocations)
const concurrency = Number(values.concurrency)
const processes = Math.min(Number(values.processes), concurrency)
for (const [name, n] of Object.entries({ total, concurrency, processes })) {
  if (!Number.isSafeInteger(n) || n < 1) throw new Error(`--${name} must be a positive integer`)
}

// A fresh counter per run, so the check is exact even on a database used before.
const runId = `run-${Date.now().toString(36)}-${process.pid}`
const counter = `invoke-many/${runId}`
// Invocation i goes to container i % concurrency; container c lives in process c % processes.
const byContainer = Array.from({ length: concurrency }, () => [] as string[])
for (let i = 0; i < total; i++) byContainer[i % concurrency]!.push(`${runId}-req-${i}`)
const byProcess = Array.from({ length: processes }, (_, p) =>
  byContainer.filter((_, c) => c % processes === p),
)

const where =
  process.env.S3DB_URL ?? `filesystem store ${process.env.S3DB_DATA_DIR ?? '.data/store'}`
console.log(
  `invoking the handler ${total} times, ${concurrency} containers at once (${processes} processes), on ${where}`,
)

const containerScript = fileURLToPath(new URL('./container.ts', import.meta.url))
const children = byProcess.map((invocations, p) => {
  const child = spawn(
    process.execPath,
    [containerScript, JSON.stringify({ process: p, invocations, counter })],
    {
      stdio: ['pipe', 'pipe', 'inherit'],
    },
  )
  let out = ''
  let markReady: () => void
  const ready = new Promise<void>((resolve) => {
    markReady = resolve
  })
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
    out += chunk
    if (out.includes('{"type":"ready"}')) markReady()
  })
  const done = new Promise<(InitLine | InvocationLine)[]>((resolve, reject) => {
    child.on('error', reject)
    child.on('close', (code) => {
      if (code !== 0) reject(new Error(`container process ${p} exited with ${code}`))
      else
        resolve(
          out
            .trim()
            .split('\n')
            .map((l) => JSON.parse(l) as InitLine | InvocationLine),
        )
    })
  })
  return { child, ready: Promise.race([ready, done.then(() => undefined)]), done }
})
// Every container is warm: release them all at once.
await Promise.all(children.map((c) => c.ready))
const started = Date.now()
for (const { child } of children) child.stdin.end('go\n')
const lines = (await Promise.all(children.map((c) => c.done))).flat()
const wall = Date.now() - started

const inits = lines.filter((l): l is InitLine => l.type === 'init')
const runs = lines.filter((l): l is InvocationLine => l.type === 'invocation')
const ok = runs.filter((r) => r.ok && r.result)
const failed = runs.filter((r) => !r.ok)

// A retried request id (what Lambda does after a timeout) must not count twice.
const { handler, shutdown } = await import('./handler.ts')
const retry = await handler({ op: 'increment', counter }, { awsRequestId: `${runId}-req-0` })
const final = await handler({ op: 'get', counter }, { awsRequestId: `${runId}-check` })
await shutdown()

const stat = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b)
  const q = (p: number) => s[Math.min(s.length - 1, Math.floor(p * s.length))] ?? 0
  const mean = s.reduce((a, b) => a + b, 0) / (s.length || 1)
  return `mean ${mean.toFixed(2).padStart(6)}  p50 ${String(q(0.5)).padStart(4)}  p95 ${String(q(0.95)).padStart(4)}  max ${String(s.at(-1) ?? 0).padStart(4)}`
}
const r = ok.map((l) => l.result!)
console.log(
  `\n${ok.length} ok, ${failed.length} failed in ${wall} ms (${((ok.length / wall) * 1000).toFixed(1)} invocations/s)`,
)
console.log(
  `cold starts (${inits.length}):   GET ${stat(inits.map((i) => i.requests.get))}   init ms ${stat(inits.map((i) => i.initMs))}`,
)
console.log(`per invocation:     GET ${stat(r.map((x) => x.requests.get))}`)
console.log(`                    PUT ${stat(r.map((x) => x.requests.put))}`)
console.log(
  `                    all ${stat(r.map((x) => x.requests.get + x.requests.put + x.requests.list + x.requests.delete + x.requests.head))}`,
)
console.log(`commit attempts:        ${stat(r.map((x) => x.attempts ?? 1))}`)
console.log(`latency ms:             ${stat(r.map((x) => x.durationMs))}`)
for (const f of failed.slice(0, 5)) console.log(`failed ${f.requestId}: ${f.error}`)

const distinct = new Set(r.map((x) => x.value))
const checks: Array<[string, boolean]> = [
  [`counter ${final.value} == successful invocations ${ok.length}`, final.value === ok.length],
  [`recorded invocations ${final.invocations} == ${ok.length}`, final.invocations === ok.length],
  [`every invocation saw a distinct value (${distinct.size})`, distinct.size === ok.length],
  [
    `a retried request id is answered from its first run, not counted again`,
    retry.duplicate === true &&
      retry.value === ok.find((l) => l.requestId === `${runId}-req-0`)?.result?.value,
  ],
]
let pass = true
for (const [what, good] of checks) {
  console.log(`${good ? 'PASS' : 'FAIL'} ${what}`)
  pass &&= good
}
console.log(
  JSON.stringify({
    summary: { ok: ok.length, failed: failed.length, counter: final.value, wallMs: wall },
  }),
)
process.exitCode = pass ? 0 : 1
