/**
 * The board's history: the recent commits (s3db keeps a week of them, see
 * src/db), the board as it was at one of them, and undo (a restore: the past
 * state becomes a new commit, which can itself be undone).
 */
import { type Db, openPast } from '../db'
import { type Board, readBoard } from './queries'

export interface HistoryItem {
  seq: number
  /** Commit time (ms), when recorded. */
  time: number | undefined
  /** What changed, e.g. "ideas +1, activity +1". */
  summary: string
}

export async function readHistory(db: Db, limit = 12): Promise<HistoryItem[]> {
  const { entries } = await db.packages.core.S3db.log(db.location.store, db.location.prefix, {
    limit,
    changes: true,
  })
  return entries.map((e) => ({
    seq: e.seq,
    time: e.time,
    summary:
      e.kind === 'snapshot'
        ? 'schema change or restore'
        : Object.entries(e.tables ?? {})
            .filter(([table]) => !table.startsWith('__'))
            .map(([table, c]) =>
              [
                table,
                c.inserts ? `+${c.inserts}` : '',
                c.updates ? `~${c.updates}` : '',
                c.deletes ? `-${c.deletes}` : '',
              ]
                .filter(Boolean)
                .join(' '),
            )
            .join(', '),
  }))
}

/** The board as it was at `seq`, read through the same Kysely query. */
export async function readBoardAt(db: Db, seq: number): Promise<Board> {
  const { past, close } = await openPast(db, seq)
  try {
    return await readBoard(past)
  } finally {
    await close()
  }
}

/** Undo: publishes the state at `seq` as a new commit. Returns the new seq. */
export async function undoTo(db: Db, seq: number): Promise<{ seq: number; undone: number }> {
  const r = await db.packages.core.S3db.restore(db.location.store, db.location.prefix, {
    at: { seq },
  })
  return { seq: r.seq, undone: r.discarded.count }
}
