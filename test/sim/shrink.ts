/**
 * Making a failure small: the trace lines of the operations a violation
 * involves, and a delta-debugging search for a smaller set of planned
 * operations (same seed) that still fails the same checker.
 */
import type { Violation } from './history.ts'
import { type SimOptions, type SimResult, simulate } from './simulate.ts'

/** Kinds whose effects reach every later operation: always worth showing. */
const CONTEXT_KINDS = new Set([
  'go',
  'restore',
  'recreate',
  'crash',
  'gc',
  'compact',
  'push',
  'deploy',
])

/** The trace lines of the operations that matter to `violations`. */
export function shortTrace(result: SimResult, violations = result.violations, max = 120): string[] {
  const ids = new Set(violations.flatMap((v) => v.ops))
  for (const o of result.history.ops)
    if (CONTEXT_KINDS.has(o.kind) || (ids.size === 0 && o.status !== 'ok')) ids.add(o.id)
  const mine = (line: string) => {
    const m = /(?:^\s*\d+ op (\d+) )|(?:#(\d+) )/.exec(line)
    const id = m ? Number(m[1] ?? m[2]) : undefined
    return id !== undefined && ids.has(id)
  }
  const lines = result.trace.filter(
    (l, i) => i === 0 || mine(l) || / event (rebuild|error)/.test(l) || /calm:/.test(l),
  )
  return lines.length > max
    ? [...lines.slice(0, max / 2), `... ${lines.length - max} lines ...`, ...lines.slice(-max / 2)]
    : lines
}

/** The command that replays a run. */
export function replayCommand(seed: number, keep?: readonly number[]): string {
  return `npm run sim -- --seed ${seed}${keep ? ` --keep ${keep.join(',')}` : ''}`
}

function sameFailure(a: Violation[], checker: string): boolean {
  return a.some((v) => v.checker === checker)
}

/**
 * Removes planned operations while the run still fails the same checker
 * (ddmin over the op ids). Bounded by `budget` runs.
 */
export async function shrink(
  failing: SimResult,
  options: SimOptions = {},
  budget = 60,
  onStep?: (kept: number, runs: number) => void,
): Promise<{ keep: number[]; result: SimResult }> {
  const checker = failing.violations[0]!.checker
  let keep = failing.planned.map((p) => p.id)
  let best = failing
  let runs = 0
  let chunks = 2
  while (keep.length > 1 && runs < budget) {
    const size = Math.ceil(keep.length / chunks)
    let reduced = false
    for (let i = 0; i < keep.length && runs < budget; i += size) {
      const candidate = [...keep.slice(0, i), ...keep.slice(i + size)]
      if (candidate.length === 0) continue
      runs++
      const r = await simulate(failing.seed, { ...options, keep: new Set(candidate) })
      onStep?.(candidate.length, runs)
      if (sameFailure(r.violations, checker)) {
        keep = candidate
        best = r
        chunks = Math.max(chunks - 1, 2)
        reduced = true
        break
      }
    }
    if (!reduced) {
      if (size <= 1) break
      chunks = Math.min(chunks * 2, keep.length)
    }
  }
  return { keep, result: best }
}
