/**
 * The board's schema, as Drizzle sees it. `npx drizzle-kit generate` turns
 * changes here into migrations under ./drizzle, which the app applies on start.
 *
 * Every table has a PRIMARY KEY: s3db replicates rows by key. The ids are plain
 * rowid aliases (no AUTOINCREMENT): two servers that insert at once both pick the
 * next id locally, and the loser of the commit race re-runs on the winner's state.
 */
import { relations } from 'drizzle-orm'
import { index, integer, sqliteTable, text } from 'drizzle-orm/sqlite-core'

export const ideas = sqliteTable('ideas', {
  id: integer('id').primaryKey(),
  title: text('title').notNull(),
  author: text('author').notNull(),
  votes: integer('votes').notNull().default(0),
  done: integer('done', { mode: 'boolean' }).notNull().default(false),
  createdAt: integer('created_at', { mode: 'timestamp_ms' }).notNull(),
})

export const ACTIVITY_KINDS = ['posted', 'voted', 'completed', 'reopened'] as const

/** One row per user action, written in the same transaction as the change it describes. */
export const activity = sqliteTable(
  'activity',
  {
    id: integer('id').primaryKey(),
    ideaId: integer('idea_id')
      .notNull()
      .references(() => ideas.id, { onDelete: 'cascade' }),
    actor: text('actor').notNull(),
    kind: text('kind', { enum: ACTIVITY_KINDS }).notNull(),
    at: integer('at', { mode: 'timestamp_ms' }).notNull(),
  },
  (t) => [index('activity_idea_idx').on(t.ideaId)],
)

export const ideasRelations = relations(ideas, ({ many }) => ({ activity: many(activity) }))
export const activityRelations = relations(activity, ({ one }) => ({
  idea: one(ideas, { fields: [activity.ideaId], references: [ideas.id] }),
}))
