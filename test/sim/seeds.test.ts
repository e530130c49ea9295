/**
 * The CI budget of the simulation: a fixed range of seeds (about 4 minutes on
 * 2 cores). A failure prints the command that replays the seed and the trace
 * of the operations that matter. `npm run sim -- --minutes M` runs longer.
 */
import { expect, it } from 'vitest'
import { HELD_BACK } from './operations.ts'
import { replayCommand, shortTrace } from './shrink.ts'
import { simulate } from './simulate.ts'

/** Seeds run in CI. */
export const CI_SEEDS = 100

it(`simulates ${CI_SEEDS} seeds without a violation`, { timeout: 9 * 60_000 }, async () => {
  for (const [kind, why] of Object.entries(HELD_BACK))
    console.log(`sim: '${kind}' operations held back: ${why}`)
  const failures: string[] = []
  let ops = 0
  let faults = 0
  const started = Date.now()
  for (let seed = 1; seed <= CI_SEEDS; seed++) {
    const r = await simulate(seed)
    ops += r.stats.ops
    faults += r.stats.faults
    if (r.violations.length > 0)
      failures.push(
        [
          `seed ${seed}: ${r.violations.map((v) => `[${v.checker}] ${v.message}`).join('\n  ')}`,
          `replay: ${replayCommand(seed)}`,
          ...shortTrace(r, r.violations, 60),
        ].join('\n'),
      )
  }
  console.log(
    `sim: ${CI_SEEDS} seeds, ${ops} operations, ${faults} faults in ${((Date.now() - started) / 1000).toFixed(0)} s`,
  )
  expect(failures).toEqual([])
})
