/**
 * `npm run bench [-- --quick] [-- --only warm,sync]`: runs the scenarios, prints a
 * table each and writes bench/results/*.json. Starts MinIO (as the tests do) when
 * one can be provided, to include real S3 numbers.
 */
import { execFile } from 'node:child_process'
import { existsSync } from 'node:fs'
import { parseArgs, promisify } from 'node:util'
import { provideS3 } from '../test/support/minio.ts'
import type { BenchOptions } from './lib/measure.ts'
import { coldOpen } from './scenarios/cold-open.ts'
import { compaction } from './scenarios/compaction.ts'
import { concurrency } from './scenarios/concurrency.ts'
import { ddlMemory } from './scenarios/ddl-memory.ts'
import { history } from './scenarios/history.ts'
import { lambdaColdStart } from './scenarios/lambda-cold-start.ts'
import { processes } from './scenarios/processes.ts'
import { sync } from './scenarios/sync.ts'
import { warm } from './scenarios/warm.ts'

const { values } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    only: { type: 'string' },
    latency: { type: 'string', default: '20' },
    'no-s3': { type: 'boolean', default: false },
    // The `processes` scenario: process counts (4,16,64), seconds per row, the
    // baseline engine's git ref ('none' skips it), workloads (disjoint,hot).
    processes: { type: 'string' },
    duration: { type: 'string' },
    baseline: { type: 'string' },
    workloads: { type: 'string' },
    stores: { type: 'string' },
  },
})
const only = values.only?.split(',')
const scenarios: Record<string, (o: BenchOptions) => Promise<void>> = {
  warm,
  concurrency,
  processes,
  'cold-open': coldOpen,
  sync,
  compaction,
  'ddl-memory': ddlMemory,
  'lambda-cold-start': lambdaColdStart,
  history,
}
const external = ['capture', 'kysely-overhead', 'drizzle-overhead', 'safe-integers']

const s3 = values['no-s3'] ? undefined : await provideS3((m) => console.log(m))
const endpoint = s3 && !('unavailable' in s3) ? s3 : undefined
if (!endpoint)
  console.log(
    `bench: MinIO rows skipped: ${s3 && 'unavailable' in s3 ? s3.unavailable : '--no-s3'}`,
  )
const opts: BenchOptions = {
  quick: values.quick ?? false,
  latencyMs: Number(values.latency),
  s3: endpoint,
  processes: values.processes?.split(',').map(Number),
  durationMs: values.duration ? Number(values.duration) * 1000 : undefined,
  baseline: values.baseline,
  workloads: values.workloads?.split(',') as BenchOptions['workloads'],
  stores: values.stores?.split(',') as BenchOptions['stores'],
}
const started = performance.now()
try {
  for (const [name, run] of Object.entries(scenarios)) {
    if (only && !only.includes(name)) continue
    await run(opts)
  }
  for (const name of external) {
    if (only && !only.includes(name)) continue
    const script = new URL(`./${name}.ts`, import.meta.url).pathname
    if (!existsSync(script)) {
      console.log(`bench: ${name} not present, skipped`)
      continue
    }
    const { stdout, stderr } = await promisify(execFile)(
      process.execPath,
      [script, ...(opts.quick ? ['--quick'] : [])],
      { maxBuffer: 16 << 20 },
    ).catch((err: { stdout?: string; stderr?: string; message: string }) => {
      throw new Error(`bench ${name} failed: ${err.message}\n${err.stderr ?? ''}`)
    })
    process.stdout.write(stdout)
    if (stderr.trim()) process.stderr.write(stderr)
  }
} finally {
  if (endpoint) await endpoint.stop()
}
console.log(
  `\nbench: done in ${Math.round((performance.now() - started) / 1000)} s${opts.quick ? ' (quick mode)' : ''}; results in bench/results/`,
)
