/**
 * Strict serializability of list-append transactions, Elle-style: infer each
 * key's version order from the final state, build the dependency graph (ww,
 * wr, rw) plus real-time edges, and search it for cycles. Indeterminate
 * transactions count as committed exactly when their values are visible.
 */
import {
  certain,
  type History,
  listsOf,
  type Mop,
  mayReadEarlierSegment,
  type OpRecord,
  opsOf,
  type Violation,
} from '../history.ts'

type EdgeKind = 'ww' | 'wr' | 'rw' | 'rt'
const INIT = -1

export function checkListAppend(h: History): Violation[] {
  const out: Violation[] = []
  for (const seg of h.segments) {
    if (!seg.final) continue
    out.push(...checkSegment(h, seg.index, listsOf(seg.initial), listsOf(seg.final)))
  }
  return out
}

function checkSegment(
  h: History,
  segment: number,
  initial: Map<string, number[]>,
  final: Map<string, number[]>,
): Violation[] {
  const out: Violation[] = []
  const v = (message: string, ops: number[]) =>
    out.push({ checker: 'list-append', message: `segment ${segment}: ${message}`, ops })
  const ops = opsOf(h, segment).filter((o) => o.mops !== undefined)
  const byId = new Map(ops.map((o) => [o.id, o]))
  // Who wrote each value (values are unique per append).
  const writer = new Map<number, OpRecord>()
  for (const o of ops) for (const m of o.mops!) if (m[0] === 'a') writer.set(m[2], o)
  const initialValues = new Set([...initial.values()].flat())

  // Values in the final state: each at most once, each from a committed or indeterminate op.
  const position = new Map<number, { key: string; index: number }>()
  for (const [key, list] of final) {
    list.forEach((x, index) => {
      if (position.has(x))
        v(`value ${x} appears twice (in ${key}): a write applied twice`, ids(writer.get(x)))
      position.set(x, { key, index })
      const w = writer.get(x)
      if (!w && !initialValues.has(x))
        v(`value ${x} in ${key} was written by no known operation`, [])
      if (w && certain(w, segment) && w.status === 'fail')
        v(
          `value ${x} in ${key} comes from op ${w.id} (${w.kind}) that failed with ${w.error?.code ?? w.error?.name}: a failed write took effect`,
          [w.id],
        )
    })
  }
  // Acknowledged appends are in the final state, at their key.
  for (const o of ops) {
    if (!certain(o, segment) || o.status !== 'ok') continue
    for (const m of o.mops!) {
      if (m[0] !== 'a') continue
      const at = position.get(m[2])
      if (!at)
        v(
          `op ${o.id} (${o.kind}) appended ${m[2]} to ${m[1]} and succeeded, but the value is lost`,
          [o.id],
        )
      else if (at.key !== m[1]) v(`value ${m[2]} is in ${at.key}, not ${m[1]}`, [o.id])
    }
  }
  // Reads count only for ops wholly inside the segment: an op in flight across an
  // operator's restore, or a bounded-stale one that started less than its
  // staleness after it, may have read the state before it.
  const reads = (o: OpRecord) =>
    o.status === 'ok' && o.segment === segment && !o.straddles && !mayReadEarlierSegment(h, o)
  // Every read is a prefix of the final list (lists only grow within a segment).
  for (const o of ops) {
    if (!reads(o)) continue
    for (const m of o.mops!) {
      if (m[0] !== 'r') continue
      const seen = m[2] ?? []
      const full = final.get(m[1]) ?? []
      const prefix = seen.every((x, i) => full[i] === x)
      if (!prefix)
        v(
          `op ${o.id} (${o.kind}) read ${m[1]} = [${seen.join(' ')}], not a prefix of its final [${full.join(' ')}]`,
          [o.id, ...seen.map((x) => writer.get(x)?.id ?? INIT).filter((id) => id !== INIT)],
        )
    }
  }

  // The graph: nodes are ops that took effect (ok, or indeterminate and visible), plus INIT.
  const effective = ops.filter(
    (o) =>
      o.status === 'ok' ||
      (o.status === 'info' && o.mops!.some((m) => m[0] === 'a' && position.has(m[2]))),
  )
  const nodes = new Set<number>([INIT, ...effective.map((o) => o.id)])
  const edges = new Map<number, Map<number, EdgeKind>>()
  const edge = (a: number, b: number, kind: EdgeKind) => {
    if (a === b || !nodes.has(a) || !nodes.has(b)) return
    let m = edges.get(a)
    if (!m) {
      m = new Map()
      edges.set(a, m)
    }
    if (!m.has(b) || kind !== 'rt') m.set(b, kind)
  }
  const wOf = (x: number | undefined) =>
    x === undefined ? undefined : initialValues.has(x) ? INIT : writer.get(x)?.id
  for (const list of final.values())
    for (let i = 1; i < list.length; i++) {
      const a = wOf(list[i - 1])
      const b = wOf(list[i])
      if (a !== undefined && b !== undefined) edge(a, b, 'ww')
    }
  for (const o of effective) {
    if (!reads(o)) continue
    for (const m of o.mops!) {
      if (m[0] !== 'r') continue
      const seen = m[2] ?? []
      const full = final.get(m[1]) ?? []
      const last = wOf(seen.at(-1))
      if (last !== undefined) edge(last, o.id, 'wr')
      const next = wOf(full[seen.length])
      if (next !== undefined && seen.every((x, i) => full[i] === x)) edge(o.id, next, 'rw')
    }
  }
  // Real time: A finished before B started (a bounded-staleness read may start that much earlier).
  for (const b of effective) {
    edge(INIT, b.id, 'rt')
    for (const a of effective) {
      if (a.status !== 'ok' || a.end === undefined) continue
      // A late write from an earlier segment lands at no time the op's end says.
      if (a.landsLater && a.segment !== segment) continue
      if (a.end < b.start - (b.staleMs ?? 0)) edge(a.id, b.id, 'rt')
    }
  }
  for (const cycle of findCycles(nodes, edges)) {
    const kinds = cycle.map((id, i) => edges.get(id)!.get(cycle[(i + 1) % cycle.length]!)!)
    const describe = cycle
      .map((id, i) => `${id === INIT ? 'init' : `op ${id} (${byId.get(id)!.kind})`} -${kinds[i]}->`)
      .join(' ')
    const realTime = kinds.includes('rt')
    v(
      `${realTime ? 'real-time order violated (not strictly serializable)' : 'not serializable'}: cycle ${describe} op ${cycle[0] === INIT ? 'init' : cycle[0]}`,
      cycle.filter((id) => id !== INIT),
    )
  }
  return out
}

function ids(o: OpRecord | undefined): number[] {
  return o ? [o.id] : []
}

/** One short cycle per strongly connected component with more than one node. */
export function findCycles<E>(nodes: Set<number>, edges: Map<number, Map<number, E>>): number[][] {
  // Tarjan's SCC, iterative.
  let index = 0
  const idx = new Map<number, number>()
  const low = new Map<number, number>()
  const onStack = new Set<number>()
  const stack: number[] = []
  const sccs: number[][] = []
  for (const start of nodes) {
    if (idx.has(start)) continue
    const work: [number, number[]][] = []
    const push = (n: number) => {
      idx.set(n, index)
      low.set(n, index++)
      stack.push(n)
      onStack.add(n)
      work.push([n, [...(edges.get(n)?.keys() ?? [])]])
    }
    push(start)
    while (work.length > 0) {
      const top = work.at(-1)!
      const [n, succ] = top
      const next = succ.shift()
      if (next !== undefined) {
        if (!idx.has(next)) push(next)
        else if (onStack.has(next)) low.set(n, Math.min(low.get(n)!, idx.get(next)!))
        continue
      }
      work.pop()
      if (work.length > 0) {
        const parent = work.at(-1)![0]
        low.set(parent, Math.min(low.get(parent)!, low.get(n)!))
      }
      if (low.get(n) === idx.get(n)) {
        const scc: number[] = []
        let x: number
        do {
          x = stack.pop()!
          onStack.delete(x)
          scc.push(x)
        } while (x !== n)
        if (scc.length > 1) sccs.push(scc)
      }
    }
  }
  // Shortest cycle through the first node of each SCC (BFS inside it).
  return sccs.map((scc) => {
    const inside = new Set(scc)
    const from = Math.max(...scc)
    const prev = new Map<number, number>()
    const queue = [from]
    while (queue.length > 0) {
      const n = queue.shift()!
      for (const m of edges.get(n)?.keys() ?? []) {
        if (!inside.has(m)) continue
        if (m === from) {
          const path = [n]
          let x = n
          while (x !== from) {
            x = prev.get(x)!
            path.push(x)
          }
          return path.reverse()
        }
        if (!prev.has(m)) {
          prev.set(m, n)
          queue.push(m)
        }
      }
    }
    return scc
  })
}

export type { Mop }
