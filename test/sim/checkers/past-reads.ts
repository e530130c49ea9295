/**
 * Past reads (history ops, test/sim/history-ops.ts): what a read-only handle
 * at a past seq showed must be a state the database really went through.
 *
 * - The bank invariant holds in it (every committed state keeps it).
 * - No write of an operation that certainly failed is in it.
 * - Within a segment's lineage (seqs from the segment's start on), every list
 *   is a prefix of the segment's final list and every ledger token is in the
 *   final ledger: lists only grow, and the final state descends from it.
 * - Two reads of one seq in one segment saw the same state (unless the Go
 *   client replaced the snapshot at that seq, keeping it), and a read of a
 *   lower seq is a prefix of a read of a higher one.
 * - A branch made of a seq, opened cold, equals the past read of that seq
 *   (unless the Go client replaced the snapshot at that seq meanwhile: the two
 *   reads may then see the state before and after).
 */
import {
  balancesOf,
  certain,
  type History,
  ledgerOf,
  listsOf,
  type OpRecord,
  type Violation,
} from '../history.ts'

function isPrefix(a: number[], b: number[]): boolean {
  return a.length <= b.length && a.every((x, i) => b[i] === x)
}

export function checkPastReads(h: History): Violation[] {
  const out: Violation[] = []
  const v = (message: string, ops: number[]) => out.push({ checker: 'past-reads', message, ops })
  const byToken = new Map<string, OpRecord>()
  for (const o of h.ops) if (o.token) byToken.set(o.token, o)
  const reads = h.ops.filter((o) => o.past && o.status === 'ok')
  for (const o of reads) {
    const past = o.past!
    const at = `op ${o.id} (${o.kind}) at seq ${past.seq}`
    const balances = balancesOf(past.dump)
    if (balances) {
      const total = balances.reduce((a, b) => a + b, 0)
      if (total !== h.bankTotal || balances.some((b) => b < 0))
        v(`${at} saw balances [${balances.join(' ')}], which break the invariant`, [o.id])
    }
    for (const token of ledgerOf(past.dump).keys()) {
      const w = byToken.get(token)
      if (w && certain(w, w.segment) && w.status === 'fail')
        v(`${at} saw token ${token} of op ${w.id}, which failed`, [o.id, w.id])
    }
    // Across an operator's restore a seq names two states (the one the branch
    // copied, and the one the later past read found): compare within one
    // segment; likewise across a Go client's replacement of that seq's state.
    if (
      past.branch !== undefined &&
      !o.straddles &&
      !replacedDuring(h, past.seq, o) &&
      JSON.stringify(past.branch) !== JSON.stringify(past.dump)
    )
      v(`${at}: the branch of that seq holds another state than the past read`, [o.id])
  }
  // Per segment: reads wholly inside it, of seqs in its own lineage.
  for (const seg of h.segments) {
    if (seg.startSeq === undefined) continue
    const mine = reads.filter(
      (o) => o.segment === seg.index && !o.straddles && o.past!.seq >= seg.startSeq!,
    )
    // Seqs whose state the Go client replaced (it keeps seq) in this segment.
    const replaced = new Set(
      h.ops
        .filter((o) => o.kind === 'go' && o.segment === seg.index)
        .map(replacedSeq)
        .filter((n) => Number.isSafeInteger(n)),
    )
    if (seg.final) {
      const final = listsOf(seg.final)
      const tokens = ledgerOf(seg.final)
      for (const o of mine) {
        for (const [key, list] of listsOf(o.past!.dump))
          if (!isPrefix(list, final.get(key) ?? []))
            v(
              `segment ${seg.index}: op ${o.id} (${o.kind}) at seq ${o.past!.seq} saw ${key} = [${list.join(' ')}], not a prefix of the final [${(final.get(key) ?? []).join(' ')}]`,
              [o.id],
            )
        for (const token of ledgerOf(o.past!.dump).keys())
          if (!tokens.has(token))
            v(
              `segment ${seg.index}: op ${o.id} (${o.kind}) at seq ${o.past!.seq} saw token ${token}, which the final state does not hold`,
              [o.id],
            )
      }
    }
    const sorted = [...mine].sort((a, b) => a.past!.seq - b.past!.seq)
    for (let i = 1; i < sorted.length; i++) {
      const a = sorted[i - 1]!
      const b = sorted[i]!
      const la = listsOf(a.past!.dump)
      const lb = listsOf(b.past!.dump)
      if (a.past!.seq === b.past!.seq) {
        if (replaced.has(a.past!.seq)) continue
        if (JSON.stringify(a.past!.dump) !== JSON.stringify(b.past!.dump))
          v(
            `segment ${seg.index}: ops ${a.id} and ${b.id} read seq ${a.past!.seq} and saw different states`,
            [a.id, b.id],
          )
        continue
      }
      for (const [key, list] of la)
        if (!isPrefix(list, lb.get(key) ?? []))
          v(
            `segment ${seg.index}: ${key} at seq ${a.past!.seq} (op ${a.id}) = [${list.join(' ')}] is not a prefix of ${key} at seq ${b.past!.seq} (op ${b.id}) = [${(lb.get(key) ?? []).join(' ')}]`,
            [a.id, b.id],
          )
    }
  }
  return out
}

/** The seq whose state a Go client op replaced (from its note), or NaN. */
function replacedSeq(o: OpRecord): number {
  return Number(/at seq (\d+)/.exec(o.note ?? '')?.[1])
}

/**
 * Whether a Go client op that may have replaced the state at `seq` ran while
 * `o` did (one whose note names no seq counts: its outcome may be unknown).
 */
function replacedDuring(h: History, seq: number, o: OpRecord): boolean {
  return h.ops.some((g) => {
    if (g.kind !== 'go' || g.start > (o.end ?? Infinity) || (g.end ?? Infinity) < o.start)
      return false
    const at = replacedSeq(g)
    return Number.isNaN(at) || at === seq
  })
}
