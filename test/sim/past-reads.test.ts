/**
 * The past-reads checker (history ops) catches each kind of wrong past state,
 * and passes the same history unbroken.
 */
import { describe, expect, it } from 'vitest'
import { checkPastReads } from './checkers/past-reads.ts'
import type { History, OpRecord } from './history.ts'
import type { Dump } from './replay.ts'

let nextId = 1
function op(o: Partial<OpRecord>): OpRecord {
  return {
    id: nextId++,
    kind: 'past',
    client: 'tool',
    status: 'ok',
    segment: 0,
    start: 0,
    end: 1,
    ...o,
  }
}

function dump(lists: Record<string, number[]>, tokens: string[] = [], balances = [100, 100]): Dump {
  return {
    lists: Object.entries(lists).map(([k, v]) => `'${k}'|'${v.join(' ')}'`),
    ledger: tokens.map((t, i) => `${i + 1}|'${t}'`),
    accounts: balances.map((b, i) => `${i + 1}|${b}`),
  }
}

function history(ops: OpRecord[], final: Dump): History {
  return {
    ops,
    segments: [
      {
        index: 0,
        start: 0,
        initial: undefined,
        final,
        finalSchemaVersion: 1,
        recreated: true,
        startSeq: 0,
      },
    ],
    bankTotal: 200,
  }
}

const final = dump({ x: [1, 2, 3] }, ['t1', 't2'])

describe('past-reads checker', () => {
  it('accepts past reads that are states the history went through', () => {
    const ops = [
      op({ past: { seq: 1, dump: dump({ x: [1] }, ['t1']) } }),
      op({ past: { seq: 2, dump: dump({ x: [1, 2] }, ['t1']) } }),
      op({ past: { seq: 2, dump: dump({ x: [1, 2] }, ['t1']) } }),
      op({ kind: 'branch', past: { seq: 3, dump: final, branch: final } }),
    ]
    expect(checkPastReads(history(ops, final))).toEqual([])
  })

  it('catches a past list that the final state does not continue', () => {
    const v = checkPastReads(history([op({ past: { seq: 2, dump: dump({ x: [2] }) } })], final))
    expect(v.map((x) => x.message).join()).toMatch(/not a prefix of the final/)
  })

  it('catches two reads of one seq that disagree, and a lower seq that is not a prefix', () => {
    const same = checkPastReads(
      history(
        [
          op({ past: { seq: 2, dump: dump({ x: [1, 2] }) } }),
          op({ past: { seq: 2, dump: dump({ x: [1] }) } }),
        ],
        final,
      ),
    )
    expect(same.map((x) => x.message).join()).toMatch(/read seq 2 and saw different states/)
    const order = checkPastReads(
      history(
        [
          op({ past: { seq: 3, dump: dump({ x: [1] }) } }),
          op({ past: { seq: 2, dump: dump({ x: [1, 2] }) } }),
        ],
        final,
      ),
    )
    expect(order.map((x) => x.message).join()).toMatch(/at seq 2 .* is not a prefix of x at seq 3/)
  })

  it('catches a branch that holds another state, a broken bank invariant and a failed write', () => {
    const failed = op({ kind: 'ledger', token: 't9', status: 'fail', past: undefined })
    const v = checkPastReads(
      history(
        [
          failed,
          op({ kind: 'branch', past: { seq: 1, dump: dump({ x: [1] }), branch: dump({ x: [] }) } }),
          op({ past: { seq: 1, dump: dump({ x: [1] }, [], [150, 100]) } }),
          op({ past: { seq: 1, dump: dump({ x: [1] }, ['t9']) } }),
        ],
        dump({ x: [1, 2, 3] }, ['t9']),
      ),
    )
    const text = v.map((x) => x.message).join('\n')
    expect(text).toMatch(/the branch of that seq holds another state/)
    expect(text).toMatch(/break the invariant/)
    expect(text).toMatch(/saw token t9 of op \d+, which failed/)
  })

  it('does not compare a branch with a past read across an operator restore (the seq names two states)', () => {
    const branch = (straddles: boolean) =>
      op({
        kind: 'branch',
        straddles,
        past: { seq: 1, dump: dump({ x: [1] }), branch: dump({ x: [] }) },
      })
    const msgs = (o: OpRecord) =>
      checkPastReads(history([o], dump({ x: [1, 2, 3] })))
        .map((x) => x.message)
        .join()
    expect(msgs(branch(true))).not.toMatch(/holds another state/)
    expect(msgs(branch(false))).toMatch(/holds another state/)
  })

  it('lets a branch differ from its past read only when the Go client replaced that seq meanwhile', () => {
    const branch = op({
      kind: 'branch',
      start: 10,
      end: 20,
      past: { seq: 1, dump: dump({ x: [1] }), branch: dump({ x: [] }) },
    })
    const go = (start: number, end: number, seq: number) =>
      op({ kind: 'go', client: 'go', start, end, note: `replaced the snapshot at seq ${seq}` })
    const msgs = (ops: OpRecord[]) =>
      checkPastReads(history(ops, final))
        .map((x) => x.message)
        .join('\n')
    expect(msgs([branch, go(15, 16, 1)])).not.toMatch(/holds another state/)
    // Before or after the branch op, or of another seq: both reads saw one state.
    expect(msgs([branch, go(1, 5, 1)])).toMatch(/holds another state/)
    expect(msgs([branch, go(25, 30, 1)])).toMatch(/holds another state/)
    expect(msgs([branch, go(15, 16, 2)])).toMatch(/holds another state/)
  })

  it('skips reads of seqs before the segment started (another lineage)', () => {
    const h = history([op({ past: { seq: 1, dump: dump({ x: [7] }) } })], final)
    h.segments[0]!.startSeq = 2
    expect(checkPastReads(h)).toEqual([])
  })
})
