/**
 * Bank invariants: every view of the accounts (and every transfer's final
 * run) sees the constant total and no negative balance; so does the final
 * state of each segment.
 */
import { balancesOf, type History, type Violation } from '../history.ts'

export function checkBank(h: History): Violation[] {
  const out: Violation[] = []
  const bad = (b: number[]) => b.reduce((n, x) => n + x, 0) !== h.bankTotal || b.some((x) => x < 0)
  for (const o of h.ops) {
    if (o.status !== 'ok' || !o.balances || o.straddles) continue
    if (bad(o.balances))
      out.push({
        checker: 'bank',
        message: `op ${o.id} (${o.kind}) saw balances [${o.balances.join(' ')}]: total ${o.balances.reduce((n, x) => n + x, 0)}, expected ${h.bankTotal}, none negative`,
        ops: [o.id],
      })
  }
  for (const seg of h.segments) {
    const b = balancesOf(seg.final)
    if (b && b.length > 0 && bad(b))
      out.push({
        checker: 'bank',
        message: `segment ${seg.index}: final balances [${b.join(' ')}] break the invariant (total ${h.bankTotal}, none negative)`,
        ops: [],
      })
  }
  return out
}
