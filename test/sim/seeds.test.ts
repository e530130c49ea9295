/**
 * The CI budget of the simulation: a fixed range of seeds (about 4 minutes on
 * 2 cores). A failure prints the command that replays the seed and the trace
 * of the operations that matter. `npm run sim -- --minutes M` runs longer.
 */
import { expect, it } from 'vitest'
import { HELD_BACK } from './operations.ts'
import { replayCommand, shortTrace } from './shrink.ts'
import { type ProfileName, simulate } from './simulate.ts'

/** Seeds run in CI. */
export const CI_SEEDS = 100
/** Seeds of the contention profile run in CI (where one commit carries other clients' point writes). */
export const CI_CONTENTION_SEEDS = 20

/** Runs `count` seeds; the failures, each with its replay command and trace. */
async function run(count: number, profile?: ProfileName): Promise<string[]> {
  const failures: string[] = []
  let ops = 0
  let faults = 0
  const started = Date.now()
  for (let seed = 1; seed <= count; seed++) {
    const r = await simulate(seed, { profile })
    ops += r.stats.ops
    faults += r.stats.faults
    if (r.violations.length > 0)
      failures.push(
        [
          `seed ${seed}: ${r.violations.map((v) => `[${v.checker}] ${v.message}`).join('\n  ')}`,
          `replay: ${replayCommand(seed)}${profile ? ` --profile ${profile}` : ''}`,
          ...shortTrace(r, r.violations, 60),
        ].join('\n'),
      )
  }
  console.log(
    `sim${profile ? ` (${profile})` : ''}: ${count} seeds, ${ops} operations, ${faults} faults in ${((Date.now() - started) / 1000).toFixed(0)} s`,
  )
  return failures
}

it(`simulates ${CI_SEEDS} seeds without a violation`, { timeout: 9 * 60_000 }, async () => {
  for (const [kind, why] of Object.entries(HELD_BACK))
    console.log(`sim: '${kind}' operations held back: ${why}`)
  expect(await run(CI_SEEDS)).toEqual([])
})

it(`simulates ${CI_CONTENTION_SEEDS} seeds of the contention profile without a violation`, {
  timeout: 3 * 60_000,
}, async () => {
  expect(await run(CI_CONTENTION_SEEDS, 'contention')).toEqual([])
})
