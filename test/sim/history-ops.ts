/**
 * History operations in the simulation's mix (issue #21):
 *
 * - `past`: a tool opens a read-only handle at a recent seq (or at a time) and
 *   dumps it; checkers/past-reads.ts checks what it saw against the segment's
 *   final state and against other past reads.
 * - `undo`: an operator runs `S3db.restore` to a recent seq while the clients
 *   write. Like the operator's manifest restore, it starts a new segment of the
 *   history: ops in flight around it count as uncertain, and the new segment
 *   starts from the restored state (replayed from the restore's own manifest).
 * - `branch`: an operator branches a recent seq into a new prefix; the branch,
 *   opened cold, must equal the past read of the same seq.
 *
 * Refusals that are the right answer (HistoryUnavailable for a state older than
 * the retained history, SchemaMismatch for a restore across a migration) end
 * the op with a note, not an error.
 */
import { isS3dbError, S3db } from '@s3db/core'
import { parseManifest } from '@s3db/core/internal'
import { PREFIX, runtimeFor } from './clients.ts'
import type { OpRecord } from './history.ts'
import type { PlannedOp } from './operations.ts'
import { type Dump, dumpWith, replay } from './replay.ts'
import type { Sim } from './simulate.ts'
import { simContext } from './world.ts'

/** The kinds this module runs, and their weight in the default mix. */
export const HISTORY_OP_WEIGHTS = { past: 3, undo: 1, branch: 1 } as const

export type HistoryOpKind = keyof typeof HISTORY_OP_WEIGHTS

const EXPECTED_REFUSALS = new Set(['HistoryUnavailable', 'SchemaMismatch'])

/** The current seq, as the store holds it now (planning only: no request). */
function currentSeq(sim: Sim): number | undefined {
  const o = sim.store.peek(sim.store.manifestKey)
  if (!o) return undefined
  try {
    return parseManifest(o.body, sim.store.manifestKey, PREFIX).seq
  } catch {
    return undefined
  }
}

/** A recent seq to read or restore: up to 12 back from the current one. */
function recentSeq(sim: Sim, p: PlannedOp): number | undefined {
  const seq = currentSeq(sim)
  if (seq === undefined) return undefined
  return Math.max(0, seq - (p.amount % 13))
}

async function dumpAt(sim: Sim, at: { seq: number } | { time: number }, client: string) {
  const db = await S3db.open(sim.store, PREFIX, { at, runtime: runtimeFor(sim, client) } as never)
  try {
    const dump = await db.view((tx) => dumpWith((sql) => tx.all(sql)))
    return { seq: db.pinnedSeq!, dump }
  } finally {
    await db.close()
  }
}

/**
 * Starts history op `p`; `finish` records the outcome (as startOp's does).
 * Returns false for a kind this module does not run.
 */
export function startHistoryOp(
  sim: Sim,
  p: PlannedOp,
  rec: OpRecord,
  finish: (err?: unknown, status?: OpRecord['status']) => void,
): boolean {
  if (!(p.kind in HISTORY_OP_WEIGHTS)) return false
  const kind = p.kind as HistoryOpKind
  // An undo writes only inside the database (hygiene checks it as s3db's own
  // writes); a branch creates another database, as an operator would.
  const client = { past: 'tool', undo: 'undo', branch: 'operator' }[kind]
  rec.client = client
  const life = kind === 'past' ? sim.toolLife : sim.adminLife
  const body = { past: pastOp, undo: undoOp, branch: branchOp }[kind]
  void simContext
    .run({ client, op: p.id, life }, () => body(sim, p, rec))
    .then(
      () => finish(),
      (err: unknown) => {
        if (isS3dbError(err) && EXPECTED_REFUSALS.has(err.code)) {
          rec.note = `${rec.note ? `${rec.note}; ` : ''}refused: ${err.code}`
          finish()
        } else finish(err)
      },
    )
  return true
}

async function pastOp(sim: Sim, p: PlannedOp, rec: OpRecord): Promise<void> {
  const seq = recentSeq(sim, p)
  if (seq === undefined) {
    rec.note = 'no database'
    return
  }
  // One in three asks by time: the tool's clock, up to a minute back.
  if (p.amount % 3 === 0) {
    const time = sim.world.clientNow('tool') - (p.amount % 7) * 10_000
    rec.note = `at time ${time}`
    const r = await dumpAt(sim, { time }, 'tool')
    rec.past = { seq: r.seq, dump: r.dump, byTime: time }
  } else {
    rec.note = `at seq ${seq}`
    const r = await dumpAt(sim, { seq }, 'tool')
    rec.past = { seq: r.seq, dump: r.dump }
  }
}

async function undoOp(sim: Sim, p: PlannedOp, rec: OpRecord): Promise<void> {
  const seq = recentSeq(sim, p)
  if (seq === undefined) {
    rec.note = 'no database'
    return
  }
  if (undoing.has(sim)) {
    rec.note = 'another undo is running'
    return
  }
  undoing.add(sim)
  const started = sim.world.now
  const mkey = sim.store.manifestKey
  const index = sim.beginUndoSegment()
  rec.note = `to seq ${seq}`
  try {
    const r = await S3db.restore(sim.store, PREFIX, {
      at: { seq },
      runtime: runtimeFor(sim, 'undo'),
    } as never)
    rec.note = r.restored
      ? `restored seq ${r.fromSeq} as seq ${r.seq}, undid ${r.discarded.count}`
      : `already at seq ${seq}`
  } finally {
    undoing.delete(sim)
    settleUndo(sim, rec, started, mkey, index)
  }
}

/** Sims with an undo in flight: one at a time (each begins a segment). */
const undoing = new WeakSet<Sim>()

/**
 * Whether the undo's CAS landed is exact in the simulation (the store records
 * who wrote each manifest): when it did, the new segment starts from the
 * restored state, replayed from that manifest alone; ops that started since
 * the segment began may have run on either side of it and count as uncertain.
 */
function settleUndo(sim: Sim, rec: OpRecord, started: number, mkey: string, index: number): void {
  const landed = sim.store.mutations.findLast(
    (m) => m.at >= started && m.key === mkey && m.kind === 'put' && m.client === 'undo',
  )
  for (const o of sim.history.ops)
    if (o !== rec && o.start >= started && o.segment === index) o.straddles = true
  if (!landed) return
  const body = sim.store.manifestHistory.findLast((h) => h.at === landed.at)?.body
  if (!body) return
  const r = replay((k) => (k === mkey ? body : sim.store.peek(k)?.body), mkey, PREFIX)
  if (r.ok) sim.undoSettled(index, r.dump, r.seq)
  else sim.undoSettled(index, undefined, parseManifest(body, mkey, PREFIX).seq)
}

async function branchOp(sim: Sim, p: PlannedOp, rec: OpRecord): Promise<void> {
  const seq = recentSeq(sim, p)
  if (seq === undefined) {
    rec.note = 'no database'
    return
  }
  const to = `sim/branch-${p.id}/`
  rec.note = `seq ${seq} into ${to}`
  const runtime = runtimeFor(sim, 'operator')
  await S3db.branch(sim.store, PREFIX, to, { at: { seq }, runtime } as never)
  const past = await dumpAt(sim, { seq }, 'operator')
  const db = await S3db.open(sim.store, to, { createIfMissing: false, runtime } as never)
  let branch: Dump
  try {
    branch = await db.view((tx) => dumpWith((sql) => tx.all(sql)))
  } finally {
    await db.close()
  }
  rec.past = { seq: past.seq, dump: past.dump, branch }
}
