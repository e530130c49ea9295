/**
 * The same tables as ./schema.ts, typed for Kysely. Kysely sees the raw SQLite
 * values (snake_case columns, 0/1 booleans, timestamps as epoch milliseconds),
 * while Drizzle maps them; keep both in step when you change the schema.
 */
import type { Generated } from 'kysely'

export interface BoardDatabase {
  ideas: {
    id: Generated<number>
    title: string
    author: string
    votes: Generated<number>
    done: Generated<0 | 1>
    created_at: number
  }
  activity: {
    id: Generated<number>
    idea_id: number
    actor: string
    kind: 'posted' | 'voted' | 'completed' | 'reopened'
    at: number
  }
}
