/**
 * Each checker catches a deliberately broken history, and passes the same
 * history unbroken: a green simulation run means something.
 */
import { describe, expect, it } from 'vitest'
import { checkBank } from './checkers/bank.ts'
import { checkConvergence } from './checkers/convergence.ts'
import { checkCounters } from './checkers/counters.ts'
import { checkErrors } from './checkers/errors.ts'
import { checkExactlyOnce } from './checkers/exactly-once.ts'
import { checkListAppend } from './checkers/list-append.ts'
import type { History, OpRecord } from './history.ts'
import type { Dump } from './replay.ts'

let nextId = 1
function op(o: Partial<OpRecord> & { start: number; end: number }): OpRecord {
  return { id: nextId++, kind: 'txn', client: 'c1', status: 'ok', segment: 0, ...o }
}

/** A dump with the given lists and ledger tokens. */
function dump(lists: Record<string, number[]>, tokens: string[] = [], balances?: number[]): Dump {
  const d: Dump = {
    lists: Object.entries(lists).map(([k, v]) => `'${k}'|'${v.join(' ')}'`),
    ledger: tokens.map((t, i) => `${i + 1}|'${t}'`),
  }
  if (balances) d.accounts = balances.map((b, i) => `${i + 1}|${b}`)
  return d
}

function history(ops: OpRecord[], final: Dump, schema = 0): History {
  return {
    ops,
    segments: [
      {
        index: 0,
        start: 0,
        initial: undefined,
        final,
        finalSchemaVersion: schema,
        recreated: true,
      },
    ],
    bankTotal: 200,
  }
}

describe('list-append checker', () => {
  const w1 = () => op({ start: 0, end: 10, mops: [['a', 'x', 1]] })
  const w2 = () => op({ start: 20, end: 30, mops: [['a', 'x', 2]] })

  it('accepts a serial history', () => {
    const a = w1()
    const b = w2()
    const r = op({ start: 40, end: 50, mops: [['r', 'x', [1, 2]]] })
    expect(checkListAppend(history([a, b, r], dump({ x: [1, 2] })))).toEqual([])
  })

  it('catches a lost write', () => {
    const v = checkListAppend(history([w1(), w2()], dump({ x: [1] })))
    expect(v.map((x) => x.message).join()).toMatch(
      /appended 2 to x and succeeded, but the value is lost/,
    )
  })

  it('catches a duplicated write', () => {
    const v = checkListAppend(history([w1(), w2()], dump({ x: [1, 2, 2] })))
    expect(v.map((x) => x.message).join()).toMatch(/value 2 appears twice/)
  })

  it('catches a failed write that took effect', () => {
    const a = w1()
    const b = {
      ...w2(),
      status: 'fail' as const,
      error: { code: 'Aborted', name: 'AbortedError', message: '' },
    }
    const v = checkListAppend(history([a, b], dump({ x: [1, 2] })))
    expect(v.map((x) => x.message).join()).toMatch(/a failed write took effect/)
  })

  it('lets an indeterminate write land or not', () => {
    const a = w1()
    const b = { ...w2(), status: 'info' as const }
    expect(checkListAppend(history([a, b], dump({ x: [1, 2] })))).toEqual([])
    expect(
      checkListAppend(history([w1(), { ...w2(), status: 'info' as const }], dump({ x: [1] }))),
    ).toEqual([])
  })

  it('catches a write-skew cycle (not serializable)', () => {
    // T1 reads y empty and appends x; T2 reads x empty and appends y; concurrent.
    const t1 = op({
      start: 0,
      end: 10,
      mops: [
        ['r', 'y', null],
        ['a', 'x', 1],
      ],
    })
    const t2 = op({
      start: 0,
      end: 10,
      mops: [
        ['r', 'x', null],
        ['a', 'y', 2],
      ],
    })
    const v = checkListAppend(history([t1, t2], dump({ x: [1], y: [2] })))
    expect(v).toHaveLength(1)
    expect(v[0]!.message).toMatch(/not serializable: cycle .*-rw->.*-rw->/)
  })

  it('catches a stale read (real-time order)', () => {
    const a = w1()
    const r = op({ kind: 'read', start: 20, end: 25, mops: [['r', 'x', null]] })
    const v = checkListAppend(history([a, r], dump({ x: [1] })))
    expect(v).toHaveLength(1)
    expect(v[0]!.message).toMatch(/real-time order violated/)
  })

  it('allows a bounded-stale read within its window, not beyond', () => {
    const a = w1()
    const within = op({ kind: 'read', start: 20, end: 25, staleMs: 50, mops: [['r', 'x', null]] })
    expect(checkListAppend(history([a, within], dump({ x: [1] })))).toEqual([])
    const beyond = op({ kind: 'read', start: 200, end: 205, staleMs: 50, mops: [['r', 'x', null]] })
    expect(checkListAppend(history([w1(), beyond], dump({ x: [1] })))).toHaveLength(1)
  })

  /** Two segments: the operator restored an empty state at t=100. */
  function restoredAt100(ops: OpRecord[], before: Dump, after: Dump): History {
    const h = history(ops, before)
    h.segments.push({
      index: 1,
      start: 100,
      initial: dump({}),
      final: after,
      finalSchemaVersion: 0,
      recreated: false,
    })
    return h
  }

  it('allows a bounded-stale read of the state before a restore within its window, not beyond', () => {
    const a = w1()
    const read = (start: number) =>
      op({ kind: 'read', start, end: start + 5, staleMs: 50, segment: 1, mops: [['r', 'x', [1]]] })
    expect(checkListAppend(restoredAt100([a, read(120)], dump({ x: [1] }), dump({})))).toEqual([])
    const v = checkListAppend(restoredAt100([w1(), read(200)], dump({ x: [1] }), dump({})))
    expect(v.map((x) => x.message).join()).toMatch(
      /segment 1: op \d+ \(read\) read x = \[1\], not a prefix/,
    )
  })

  it('counts a write that landed late, after a restore, in the later segment only', () => {
    // Op a's commit was acknowledged before the restore; a late copy of its
    // CAS landed on the restored manifest.
    const late = () => op({ start: 0, end: 10, mops: [['a', 'x', 1]] })
    const a = late()
    a.landsLater = true
    const b = op({ start: 150, end: 160, segment: 1, mops: [['a', 'x', 2]] })
    expect(checkListAppend(restoredAt100([a, b], dump({ x: [1] }), dump({ x: [2, 1] })))).toEqual(
      [],
    )
    // Without the late copy, the value has no writer in segment 1.
    const v = checkListAppend(restoredAt100([late(), b], dump({ x: [1] }), dump({ x: [2, 1] })))
    expect(v.map((x) => x.message).join()).toMatch(/value 1 in x was written by no known operation/)
  })

  it('catches a read that is not a prefix of the final list', () => {
    const a = w1()
    const r = op({ start: 20, end: 25, mops: [['r', 'x', [7]]] })
    const v = checkListAppend(history([a, r], dump({ x: [1] })))
    expect(v.map((x) => x.message).join()).toMatch(/not a prefix/)
  })
})

describe('bank checker', () => {
  it('accepts constant totals and catches a broken one or a negative balance', () => {
    const ok = op({ kind: 'bankview', start: 0, end: 1, balances: [100, 100] })
    expect(checkBank(history([ok], dump({}, [], [150, 50])))).toEqual([])
    const lost = op({ kind: 'bankview', start: 0, end: 1, balances: [100, 90] })
    expect(checkBank(history([lost], dump({}, [], [150, 50])))).toHaveLength(1)
    const negative = op({ kind: 'bankview', start: 0, end: 1, balances: [210, -10] })
    expect(checkBank(history([negative], dump({}, [], [150, 50])))).toHaveLength(1)
    expect(checkBank(history([], dump({}, [], [250, -50])))).toHaveLength(1)
  })
})

describe('counters checker', () => {
  const bump = (status: OpRecord['status'], ids: number[]) =>
    op({ kind: 'bump', start: 0, end: 1, status, bumps: ids })
  /** Final state with counter 1 at `n` (others 0). */
  const counters = (n: number): Dump => ({ ...dump({}), counters: [`1|${n}`, '2|0'] })

  it('accepts exactly the acknowledged bumps, plus any indeterminate ones', () => {
    const ok = [bump('ok', [1]), bump('ok', [1]), bump('fail', [1])]
    expect(checkCounters(history(ok, counters(2)))).toEqual([])
    const withInfo = [...ok, bump('info', [1])]
    expect(checkCounters(history(withInfo, counters(2)))).toEqual([])
    expect(checkCounters(history(withInfo, counters(3)))).toEqual([])
  })

  it('catches a lost, a doubled and a failed-but-applied bump', () => {
    const msg = (ops: OpRecord[], n: number) =>
      checkCounters(history(ops, counters(n)))
        .map((v) => v.message)
        .join()
    expect(msg([bump('ok', [1]), bump('ok', [1])], 1)).toMatch(/counter 1 grew by 1, expected 2/)
    expect(msg([bump('ok', [1])], 2)).toMatch(/counter 1 grew by 2, expected 1/)
    expect(msg([bump('fail', [1])], 1)).toMatch(/counter 1 grew by 1, expected 0/)
  })
})

describe('exactly-once checker', () => {
  const t = (status: OpRecord['status'], token: string) =>
    op({ kind: 'ledger', start: 0, end: 1, status, token })
  it('accepts each outcome with its allowed counts', () => {
    const ops = [t('ok', 'a'), t('fail', 'b'), t('info', 'c'), t('info', 'd')]
    expect(checkExactlyOnce(history(ops, dump({}, ['a', 'c'])))).toEqual([])
  })
  it('catches a lost, a duplicated, a failed-but-applied and an unknown write', () => {
    const msgs = (final: string[], ops: OpRecord[]) =>
      checkExactlyOnce(history(ops, dump({}, final)))
        .map((v) => v.message)
        .join('\n')
    expect(msgs([], [t('ok', 'a')])).toMatch(/acknowledged but its write a is lost/)
    expect(msgs(['a', 'a'], [t('ok', 'a')])).toMatch(/appears 2 times/)
    expect(msgs(['c', 'c'], [t('info', 'c')])).toMatch(/appears 2 times/)
    expect(msgs(['b'], [t('fail', 'b')])).toMatch(/failed .* but its write b took effect/)
    expect(msgs(['z'], [])).toMatch(/written by no known operation/)
  })
  it('catches a migration applied twice or missing', () => {
    expect(checkExactlyOnce(history([], dump({}, ['mig-1']), 1))).toEqual([])
    expect(checkExactlyOnce(history([], dump({}, ['mig-1', 'mig-1']), 1))).toHaveLength(1)
    expect(checkExactlyOnce(history([], dump({}, ['mig-1']), 2))).toHaveLength(1)
  })
})

describe('errors checker', () => {
  it('accepts typed errors and catches untyped ones and Aborted without an abort', () => {
    const typed = op({
      start: 0,
      end: 1,
      status: 'fail',
      error: { code: 'WriteConflict', name: 'WriteConflictError', message: '' },
    })
    const untyped = op({
      start: 0,
      end: 1,
      status: 'fail',
      error: { code: undefined, name: 'TypeError', message: 'boom' },
    })
    const aborted = op({
      start: 0,
      end: 1,
      status: 'fail',
      error: { code: 'Aborted', name: 'AbortedError', message: '' },
    })
    const h = history([typed, untyped, aborted], dump({}))
    h.segments[0]!.recreated = false
    const v = checkErrors(h)
    expect(v.map((x) => x.ops[0])).toEqual([untyped.id, aborted.id])
  })
  it("accepts a missing table only in, or in flight into, a re-created database's segment", () => {
    const missing = (o: Partial<OpRecord>) =>
      op({
        start: 0,
        end: 1,
        status: 'fail',
        error: { code: undefined, name: 'SqliteError', message: 'no such table: accounts' },
        ...o,
      })
    const h = history([], dump({}))
    h.segments[0]!.recreated = false
    h.segments.push({
      index: 1,
      start: 100,
      initial: undefined,
      final: dump({}),
      finalSchemaVersion: 0,
      recreated: true,
    })
    h.segments.push({
      index: 2,
      start: 200,
      initial: undefined,
      final: dump({}),
      finalSchemaVersion: 1,
      recreated: false,
    })
    const inFlight = missing({ straddles: true })
    const inside = missing({ segment: 1 })
    const before = missing({})
    // Segment 2 began at 200: a read at 250 allowed 100 ms of staleness may still
    // see segment 1's state; one allowed 20 ms, or none, may not.
    const staleReach = missing({ segment: 2, start: 250, end: 251, staleMs: 100 })
    const staleShort = missing({ segment: 2, start: 250, end: 251, staleMs: 20 })
    const after = missing({ segment: 2, start: 250, end: 251 })
    h.ops.push(inFlight, inside, before, staleReach, staleShort, after)
    expect(checkErrors(h).map((x) => x.ops[0])).toEqual([before.id, staleShort.id, after.id])
  })
})

describe('convergence checker', () => {
  it('compares every replica with the replayed log, table by table', () => {
    const oracle = { ok: true as const, dump: dump({ x: [1, 2] }), seq: 3, schemaVersion: 1 }
    expect(checkConvergence(oracle, [{ name: 'live c1', dump: dump({ x: [1, 2] }) }])).toEqual([])
    const v = checkConvergence(oracle, [{ name: 'live c1', dump: dump({ x: [1] }) }])
    expect(v[0]!.message).toMatch(/live c1 differs .*table lists/)
    expect(checkConvergence({ ok: false, error: 'changeset does not apply' }, [])).toHaveLength(1)
  })
})
