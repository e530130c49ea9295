/**
 * Messages between the CLI and its SQL engine process (engine/process.ts).
 *
 * Why a process: better-sqlite3 runs a statement synchronously on the thread
 * that called it, so while a long query runs, no Ctrl-C handler can run in that
 * thread, and a worker thread stuck in SQLite cannot be stopped either (even
 * process.exit waits for it). A child process can be killed at any moment.
 * Killing it is safe while it runs SQL or syncs (nothing reaches the store
 * before a commit publishes); once a commit is about to publish, the child says
 * so and waits for the go-ahead, and an interrupt is then passed on to it
 * instead (the commit stops cleanly or completes).
 *
 * @module
 */
import type { S3dbStats } from '@s3db/core'
import type { ShownError } from '../errors.js'
import type { StatementResult } from '../sql-exec.js'

/** Where the engine opens the database. */
export interface OpenSpec {
  /** The target as given on the command line. */
  target: string
  pathStyle: boolean
  debug: boolean
  /** The replica file: in a folder the CLI owns, so it can be reused after a restart. */
  localPath: string
  /** A past state to open read-only (`--at`): a seq, or an ISO time. */
  at?: { seq: number } | { time: string } | undefined
}

export type Request =
  | { op: 'open'; spec: OpenSpec }
  /** `s3db sql`: all statements as one view, or (when one writes and `write`) one update. */
  | { op: 'sql'; statements: string[]; write: boolean }
  /** A shell statement outside BEGIN: a view when read-only, else its own update. */
  | { op: 'statement'; sql: string }
  /** A statement inside BEGIN: the block and it replayed in an update that is then discarded. */
  | { op: 'trial'; block: string[]; sql: string }
  /** COMMIT of a shell block: the block as one update. */
  | { op: 'commit'; block: string[] }
  /** A read for the shell's dot-commands, rows as arrays. */
  | { op: 'rows'; sql: string; params: unknown[] }
  | { op: 'stats' }
  | { op: 'close' }

export type Reply =
  | { kind: 'opened'; seq: number; display: string }
  | { kind: 'results'; results: StatementResult[]; seq: number | undefined }
  | { kind: 'needs-write'; first: string }
  | { kind: 'trial'; result: StatementResult }
  | { kind: 'committed'; changed: boolean; seq: number }
  | { kind: 'rows'; rows: unknown[][] }
  | { kind: 'stats'; stats: S3dbStats }
  | { kind: 'closed' }

/** CLI -> engine. */
export type ToEngine =
  | { type: 'request'; request: Request }
  /** Go ahead and publish (answers phase 'publish'). */
  | { type: 'go' }
  /** Ctrl-C while publishing: abort what can still be aborted. */
  | { type: 'interrupt' }

/** Engine -> CLI. */
export type FromEngine =
  /** 'sql': running SQL or syncing (safe to kill). 'publish': about to publish, waiting for 'go'. */
  | { type: 'phase'; phase: 'sql' | 'publish' }
  | { type: 'reply'; reply: Reply }
  | { type: 'error'; error: ShownError }
  /** The request was stopped by an interrupt; `line` says what that left behind. */
  | { type: 'interrupted'; line: string }
