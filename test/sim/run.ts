/**
 * `npm run sim -- [--seed N [--keep 1,2,3] [--trace] [--shrink]] [--seeds K] [--start S] [--minutes M]`
 *   `[--profile NAME] [--weights JSON] [--ops N] [--all] [--patch-clocks]`
 *
 * Runs the deterministic simulation of the whole engine: one seed, K seeds
 * from S, or as many seeds as fit in M minutes. Prints the number of seeds,
 * operations and faults; for a failing seed, the violations, the command that
 * replays it, and a shortened trace (with --shrink: of a smaller run found by
 * removing operations). Exits 1 when any seed fails.
 */
import { parseArgs } from 'node:util'
import { HELD_BACK } from './operations.ts'
import { replayCommand, shortTrace, shrink } from './shrink.ts'
import { type SimOptions, type SimResult, simulate } from './simulate.ts'

const { values } = parseArgs({
  options: {
    seed: { type: 'string' },
    seeds: { type: 'string' },
    start: { type: 'string', default: '1' },
    minutes: { type: 'string' },
    keep: { type: 'string' },
    trace: { type: 'boolean', default: false },
    shrink: { type: 'boolean', default: false },
    'patch-clocks': { type: 'boolean', default: false },
    ops: { type: 'string' },
    all: { type: 'boolean', default: false },
    weights: { type: 'string' },
    profile: { type: 'string' },
  },
})

if (!values.all)
  for (const [kind, why] of Object.entries(HELD_BACK))
    console.log(`held back: '${kind}' operations (--all runs them): ${why}`)

/** Flags other than the seed that a replay needs. */
const extra = [
  values.all ? '--all' : '',
  values['patch-clocks'] ? '--patch-clocks' : '',
  values.ops ? `--ops ${values.ops}` : '',
  values.profile ? `--profile ${values.profile}` : '',
  values.weights ? `--weights '${values.weights}'` : '',
]
  .filter(Boolean)
  .join(' ')

const base: SimOptions = {
  all: values.all,
  profile: values.profile as SimOptions['profile'],
  weights: values.weights ? (JSON.parse(values.weights) as SimOptions['weights']) : undefined,
  patchClocks: values['patch-clocks'],
  ops: values.ops ? Number(values.ops) : undefined,
}

function report(r: SimResult, keep?: number[]): void {
  console.log(`\nseed ${r.seed} FAILED: ${r.violations.length} violation(s)`)
  for (const v of r.violations.slice(0, 10)) console.log(`  [${v.checker}] ${v.message}`)
  console.log(`replay: ${replayCommand(r.seed, keep)}${extra ? ` ${extra}` : ''}`)
  console.log('trace of the operations that matter:')
  for (const line of shortTrace(r)) console.log(`  ${line}`)
}

const totals = { seeds: 0, failed: 0, ops: 0, faults: 0, requests: 0, simSeconds: 0 }
const failedSeeds: number[] = []
const started = Date.now()

async function one(seed: number, options: SimOptions = base): Promise<SimResult> {
  const r = await simulate(seed, options)
  totals.seeds++
  totals.ops += r.stats.ops
  totals.faults += r.stats.faults
  totals.requests += r.stats.requests
  totals.simSeconds += r.stats.simSeconds
  if (r.violations.length > 0) {
    totals.failed++
    failedSeeds.push(seed)
  }
  return r
}

if (values.seed !== undefined) {
  const seed = Number(values.seed)
  const keep = values.keep?.split(',').map(Number)
  const r = await one(seed, { ...base, keep: keep ? new Set(keep) : undefined })
  if (values.trace) for (const line of r.trace) console.log(line)
  console.log(
    `seed ${seed}: ${r.stats.ops} ops, ${r.stats.faults} faults, ${r.stats.requests} requests, ${r.stats.simSeconds} s simulated, ${r.stats.wallMs} ms, ${JSON.stringify(r.stats.statuses)}`,
  )
  if (r.violations.length > 0) {
    report(r, keep)
    if (values.shrink) {
      console.log('\nshrinking...')
      const s = await shrink(r, base, 80, (n, runs) =>
        process.stdout.write(`\r  run ${runs}: ${n} ops   `),
      )
      console.log(`\nsmallest failing run: ${s.keep.length} of ${r.planned.length} ops`)
      report(s.result, s.keep)
    }
  } else console.log('no violations')
} else {
  const deadline = values.minutes
    ? started + Number(values.minutes) * 60_000
    : Number.POSITIVE_INFINITY
  const count = values.seeds ? Number(values.seeds) : values.minutes ? Number.POSITIVE_INFINITY : 20
  for (let seed = Number(values.start), n = 0; n < count && Date.now() < deadline; seed++, n++) {
    const r = await one(seed, base)
    const mark = r.violations.length > 0 ? 'FAIL' : 'ok'
    console.log(
      `seed ${seed} ${mark}: ${r.stats.ops} ops, ${r.stats.faults} faults, ${r.stats.simSeconds}s sim, ${r.stats.wallMs} ms ${JSON.stringify(r.stats.statuses)}`,
    )
    if (r.violations.length > 0) report(r)
  }
}
const minutes = (Date.now() - started) / 60_000
console.log(
  `\n${totals.seeds} seeds, ${totals.ops} operations, ${totals.faults} faults, ${totals.requests} store requests in ${minutes.toFixed(1)} min (${(totals.seeds / minutes).toFixed(1)} seeds/min, ${(totals.ops / minutes).toFixed(0)} ops/min, ${(totals.faults / minutes).toFixed(0)} faults/min)`,
)
if (failedSeeds.length > 0) {
  console.log(`failing seeds: ${failedSeeds.join(' ')}`)
  process.exitCode = 1
} else console.log('no violations')
