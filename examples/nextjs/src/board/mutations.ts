/**
 * The board's writes, each one Drizzle transaction = one serializable s3db
 * update. When another server (or request) commits first, the callback RE-RUNS
 * on the newer state, so it only reads and writes through `tx`: no cookies, no
 * revalidation, no logging in here (the server actions do those afterwards).
 */
import { eq, not, sql } from 'drizzle-orm'
import type { Db } from '../db'
import { activity, ideas } from '../db/schema'

export const LIMITS = { title: 140, name: 40 } as const

export class InvalidInput extends Error {}

/** Trimmed, non-empty and at most `max` characters, or InvalidInput. */
export function cleanText(value: unknown, what: string, max: number): string {
  const text = typeof value === 'string' ? value.trim() : ''
  if (!text) throw new InvalidInput(`${what} is required`)
  if (text.length > max) throw new InvalidInput(`${what} is longer than ${max} characters`)
  return text
}

export function parseId(value: unknown): number {
  const id = Number(value)
  if (!Number.isSafeInteger(id) || id <= 0) throw new InvalidInput('no such idea')
  return id
}

/** Adds an idea; resolves with its id. */
export async function postIdea({ orm }: Db, input: { title: string; author: string }) {
  const now = new Date()
  return orm.transaction(async (tx) => {
    const [idea] = await tx
      .insert(ideas)
      .values({ title: input.title, author: input.author, createdAt: now })
      .returning({ id: ideas.id })
    await tx
      .insert(activity)
      .values({ ideaId: idea!.id, actor: input.author, kind: 'posted', at: now })
    return idea!.id
  })
}

/** One more vote; resolves with the new count, or undefined if the idea is gone. */
export async function vote({ orm }: Db, input: { id: number; actor: string }) {
  const now = new Date()
  return orm.transaction(async (tx) => {
    // votes + 1 is computed by SQLite on the state this run sees; a run on stale
    // state never commits (it re-runs), so no vote is lost under any concurrency.
    const [idea] = await tx
      .update(ideas)
      .set({ votes: sql`${ideas.votes} + 1` })
      .where(eq(ideas.id, input.id))
      .returning({ votes: ideas.votes })
    if (!idea) return undefined
    await tx
      .insert(activity)
      .values({ ideaId: input.id, actor: input.actor, kind: 'voted', at: now })
    return idea.votes
  })
}

/** Marks an idea done, or open again; resolves with the new state. */
export async function toggleDone({ orm }: Db, input: { id: number; actor: string }) {
  const now = new Date()
  return orm.transaction(async (tx) => {
    const [idea] = await tx
      .update(ideas)
      .set({ done: not(ideas.done) })
      .where(eq(ideas.id, input.id))
      .returning({ done: ideas.done })
    if (!idea) return undefined
    await tx.insert(activity).values({
      ideaId: input.id,
      actor: input.actor,
      kind: idea.done ? 'completed' : 'reopened',
      at: now,
    })
    return idea.done
  })
}
