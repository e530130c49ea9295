/**
 * What the simulator records: every operation a caller started, what it saw,
 * and how it ended; the state of the store at the end of each segment of the
 * history (an operator restore or re-create starts a new segment).
 */
import type { Dump } from './replay.ts'

/** A list-append micro-operation: a read of a key's list, or an append of a unique value. */
export type Mop = ['r', string, number[] | null] | ['a', string, number]

export type OpStatus = 'pending' | 'ok' | 'fail' | 'info'

export interface ErrorSeen {
  /** S3dbError code, or undefined for an error that is not an S3dbError. */
  code: string | undefined
  name: string
  message: string
  /** The code of its cause, when it wraps one (MigrationFailed). */
  causeCode?: string | undefined
}

export interface OpRecord {
  id: number
  kind: string
  client: string
  /** Sim time the caller called, and the time it got its answer. */
  start: number
  end?: number | undefined
  status: OpStatus
  error?: ErrorSeen | undefined
  /** History segment the op started in; straddling ops were in flight at a boundary. */
  segment: number
  straddles?: boolean | undefined
  /**
   * A write it sent was still on its way to the store at a boundary (a late
   * copy), or it offered its changeset to other clients (co-commit), which
   * may carry it over a restored manifest: it may take effect in a later
   * segment, after the op ended.
   */
  landsLater?: boolean | undefined
  /** List-append micro-ops of the run that counts (reads as observed). */
  mops?: Mop[] | undefined
  /** A read-only transaction may be this stale (maxStalenessMs); 0 = strong. */
  staleMs?: number | undefined
  /** Exactly-once token this op writes into the ledger. */
  token?: string | undefined
  /** Counters this op increments by one each ('bump'). */
  bumps?: number[] | undefined
  /** Bank: balances observed (by a view or by a transfer's final run). */
  balances?: number[] | undefined
  /** The error this op is built to provoke ('callback', 'fk'), if any. */
  expects?: 'callback' | 'fk' | undefined
  /** The op's abort signal fired (before it ended). */
  aborted?: boolean | undefined
  /** Free text for the trace. */
  note?: string | undefined
  /** History ops (past, undo, branch): the past state read, at which seq (history-ops.ts). */
  past?: PastRead | undefined
}

/** What a history op read: the state at `seq`, through a read-only handle or a branch. */
export interface PastRead {
  seq: number
  /** Read through `S3db.open({ at })`. */
  dump: Dump
  /** The same seq read from a branch made of it (branch ops). */
  branch?: Dump | undefined
  /** Asked by time (ms, the tool's clock) rather than by seq. */
  byTime?: number | undefined
}

export interface Segment {
  index: number
  /** Sim time the segment began (0, or when the operator rewrote the store). */
  start: number
  /** State at the start (undefined: the database was empty or absent). */
  initial: Dump | undefined
  /** State at the end, replayed from the store; undefined when it could not be built. */
  final: Dump | undefined
  finalSchemaVersion: number
  /** The segment started with the database deleted (tables absent until migrations run again). */
  recreated: boolean
  /** Why the final state could not be built. */
  finalError?: string | undefined
  /** Why this segment's end state cannot be judged (set before it ends). */
  unchecked?: string | undefined
  /**
   * The seq the segment's state started at (its first seq of its own), when
   * known: past reads at or after it belong to this segment's lineage.
   */
  startSeq?: number | undefined
}

export interface History {
  ops: OpRecord[]
  segments: Segment[]
  /** Bank total every view must see. */
  bankTotal: number
}

/** One thing a checker found wrong. */
export interface Violation {
  checker: string
  message: string
  /** Ids of the operations involved (for the shortened trace). */
  ops: number[]
}

/** Unquotes an SQL literal produced by quote(). */
function unquote(v: string): string {
  return v.startsWith("'") ? v.slice(1, -1).replaceAll("''", "'") : v
}

/** The `lists` table of a dump: key -> list. */
export function listsOf(dump: Dump | undefined): Map<string, number[]> {
  const out = new Map<string, number[]>()
  for (const row of dump?.lists ?? []) {
    const [k, v] = row.split('|').map(unquote) as [string, string]
    out.set(k, v === '' ? [] : v.split(' ').map((x) => Number(x)))
  }
  return out
}

/** The `accounts` table: balances by id order, or undefined when absent. */
export function balancesOf(dump: Dump | undefined): number[] | undefined {
  if (!dump?.accounts) return undefined
  return dump.accounts
    .map((r) => r.split('|').map(Number) as [number, number])
    .sort((a, b) => a[0] - b[0])
    .map((r) => r[1])
}

/** The `counters` table: id -> n (empty when absent). */
export function countersOf(dump: Dump | undefined): Map<number, number> {
  const out = new Map<number, number>()
  for (const row of dump?.counters ?? []) {
    const [id, n] = row.split('|').map(Number) as [number, number]
    out.set(id, n)
  }
  return out
}

/** The `ledger` table: token -> how many rows hold it. */
export function ledgerOf(dump: Dump | undefined): Map<string, number> {
  const out = new Map<string, number>()
  for (const row of dump?.ledger ?? []) {
    const token = unquote(row.slice(row.indexOf('|') + 1))
    out.set(token, (out.get(token) ?? 0) + 1)
  }
  return out
}

/** The ops of one segment (straddling ops, and late writes, count in every later segment). */
export function opsOf(h: History, segment: number): OpRecord[] {
  return h.ops.filter(
    (o) => o.segment === segment || ((o.straddles || o.landsLater) && o.segment < segment),
  )
}

/**
 * Whether a bounded-stale op may have seen an earlier segment's state: it may
 * read the store as it was up to `staleMs` before it started, and the
 * segment it started in had begun less than that before.
 */
export function mayReadEarlierSegment(h: History, o: OpRecord): boolean {
  return segmentsSeen(h, o)[0] !== h.segments[o.segment]
}

/**
 * The segments whose state an op may have read or acted on: the one it started
 * in, earlier ones a bounded-stale op's window reaches back into, and every
 * later one when it was in flight at a boundary.
 */
export function segmentsSeen(h: History, o: OpRecord): Segment[] {
  let from = o.segment
  const earliest = o.start - (o.staleMs ?? 0)
  while (from > 0 && h.segments[from]!.start > earliest) from--
  return h.segments.slice(from, o.straddles ? undefined : o.segment + 1)
}

/** Whether an op's effects are certain in `segment`: ok/fail, started there, not straddling. */
export function certain(o: OpRecord, segment: number): boolean {
  return o.segment === segment && !o.straddles && (o.status === 'ok' || o.status === 'fail')
}
