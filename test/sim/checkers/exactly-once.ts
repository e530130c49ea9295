/**
 * Exactly-once: an acknowledged write appears exactly once, a failed write
 * never, an indeterminate one at most once; a migration's write appears once
 * exactly when the schema reached its version.
 */
import { certain, type History, ledgerOf, opsOf, type Violation } from '../history.ts'

export function checkExactlyOnce(h: History): Violation[] {
  const out: Violation[] = []
  for (const seg of h.segments) {
    if (!seg.final) continue
    const v = (message: string, ops: number[]) =>
      out.push({ checker: 'exactly-once', message: `segment ${seg.index}: ${message}`, ops })
    const ledger = ledgerOf(seg.final)
    const initial = ledgerOf(seg.initial)
    const known = new Set<string>()
    for (const o of opsOf(h, seg.index)) {
      if (!o.token) continue
      known.add(o.token)
      const n = ledger.get(o.token) ?? 0
      if (n > 1) v(`token ${o.token} of op ${o.id} (${o.kind}) appears ${n} times`, [o.id])
      if (!certain(o, seg.index)) continue
      if (o.status === 'ok' && n === 0)
        v(`op ${o.id} (${o.kind}) was acknowledged but its write ${o.token} is lost`, [o.id])
      if (o.status === 'fail' && n > 0)
        v(
          `op ${o.id} (${o.kind}) failed with ${o.error?.code ?? o.error?.name} but its write ${o.token} took effect`,
          [o.id],
        )
    }
    for (const [token, n] of ledger) {
      if (token.startsWith('mig-')) {
        const version = Number(token.slice(4))
        const expected = seg.finalSchemaVersion >= version ? 1 : 0
        if (n !== expected)
          v(
            `migration ${version} wrote its row ${n} times at schema version ${seg.finalSchemaVersion} (expected ${expected})`,
            [],
          )
      } else if (!known.has(token) && !initial.has(token))
        v(`token ${token} (x${n}) was written by no known operation`, [])
    }
    for (let version = 1; version <= seg.finalSchemaVersion; version++)
      if (!ledger.has(`mig-${version}`) && seg.final.ledger)
        v(
          `schema is at version ${seg.finalSchemaVersion} but migration ${version}'s row is missing`,
          [],
        )
  }
  return out
}
