/**
 * "Did you mean ...?" for mistyped option and command names.
 *
 * @module
 */

/**
 * Edit distance with transpositions (optimal string alignment): `--jsno` is one
 * edit from `--json`, as a typist sees it.
 */
export function editDistance(a: string, b: string): number {
  const rows = a.length + 1
  const cols = b.length + 1
  const d: number[][] = Array.from({ length: rows }, (_, i) =>
    Array.from({ length: cols }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)),
  )
  for (let i = 1; i < rows; i++) {
    for (let j = 1; j < cols; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1
      let best = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost)
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) {
        best = Math.min(best, d[i - 2]![j - 2]! + 1)
      }
      d[i]![j] = best
    }
  }
  return d[a.length]![b.length]!
}

/**
 * The candidate `input` most likely meant: within a third of its length in
 * edits (at least one, at most two), or the only candidate it abbreviates.
 * Undefined when nothing is close enough to be a useful guess.
 */
export function closest(input: string, candidates: readonly string[]): string | undefined {
  const typed = input.toLowerCase()
  const limit = Math.min(2, Math.max(1, Math.floor(typed.length / 3)))
  let best: string | undefined
  let bestDistance = Number.POSITIVE_INFINITY
  for (const c of candidates) {
    const distance = editDistance(typed, c.toLowerCase())
    if (distance < bestDistance) {
      best = c
      bestDistance = distance
    }
  }
  if (best !== undefined && bestDistance <= limit && bestDistance < typed.length) return best
  const prefixed = typed.length >= 2 ? candidates.filter((c) => c.startsWith(typed)) : []
  return prefixed.length === 1 ? prefixed[0] : undefined
}
