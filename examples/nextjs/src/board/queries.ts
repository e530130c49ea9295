/**
 * Typed reads through Kysely. The board is read in one read-only transaction,
 * which s3db runs as a single `view`: one consistent snapshot (the lists and
 * the totals agree) that includes every commit finished before the request, for
 * one conditional GET of the manifest.
 */
import { sql } from 'kysely'
import type { Db } from '../db'

export interface IdeaRow {
  id: number
  title: string
  author: string
  votes: number
  done: boolean
  createdAt: number
}

export interface ActivityRow {
  id: number
  actor: string
  kind: 'posted' | 'voted' | 'completed' | 'reopened'
  at: number
  ideaTitle: string
}

export interface Board {
  ideas: IdeaRow[]
  recent: ActivityRow[]
  totals: { ideas: number; votes: number; actions: number }
  /** The database position this board was read at. */
  seq: number
}

export async function readBoard({ kysely, s3db }: Db): Promise<Board> {
  return kysely
    .transaction()
    .setAccessMode('read only')
    .execute(async (trx) => {
      const ideas = await trx
        .selectFrom('ideas')
        .select(['id', 'title', 'author', 'votes', 'done', 'created_at as createdAt'])
        .orderBy('done', 'asc')
        .orderBy('votes', 'desc')
        .orderBy('id', 'desc')
        .execute()
      const recent = await trx
        .selectFrom('activity')
        .innerJoin('ideas', 'ideas.id', 'activity.idea_id')
        .select([
          'activity.id',
          'activity.actor',
          'activity.kind',
          'activity.at',
          'ideas.title as ideaTitle',
        ])
        .orderBy('activity.id', 'desc')
        .limit(8)
        .execute()
      const totals = await trx
        .selectNoFrom((eb) => [
          eb.selectFrom('ideas').select(eb.fn.countAll<number>().as('n')).as('ideas'),
          eb.selectFrom('ideas').select(sql<number>`coalesce(sum(votes), 0)`.as('n')).as('votes'),
          eb.selectFrom('activity').select(eb.fn.countAll<number>().as('n')).as('actions'),
        ])
        .executeTakeFirstOrThrow()
      return {
        ideas: ideas.map((i) => ({ ...i, done: i.done === 1 })),
        recent,
        totals: {
          ideas: Number(totals.ideas),
          votes: Number(totals.votes),
          actions: Number(totals.actions),
        },
        // The view brought the replica up to date before the callback ran (a
        // commit of this process finishing meanwhile may have moved it on).
        seq: s3db.stats().localSeq ?? s3db.stats().seq,
      }
    })
}
