/**
 * Events s3db emits through the `onEvent` option, so apps can log and measure
 * what the database does. Every event carries its duration and the store
 * requests it cost.
 *
 * @module
 */
import type { RequestCounts } from './store/counting-store.js'

interface EventBase {
  /** Milliseconds the operation took. */
  durationMs: number
  /** Store requests the operation sent. */
  requests: RequestCounts
}

/** The replica was brought to a newer manifest. */
export interface SyncEvent extends EventBase {
  type: 'sync'
  fromSeq: number
  toSeq: number
  /** Changesets applied (with a snapshot: the log applied on top of it). */
  changesets: number
  /** True when a snapshot was downloaded. */
  snapshot: boolean
}

/** A write was published. */
export interface CommitEvent extends EventBase {
  type: 'commit'
  seq: number
  /** Transactions published together (group commit). */
  transactions: number
  /** 'changeset' for data, 'snapshot' for DDL commits. */
  kind: 'changeset' | 'snapshot'
  bytes: number
  /** Attempts it took (1 = no conflict). */
  attempts: number
}

/** A commit lost its compare-and-swap to another writer and will retry. */
export interface ConflictEvent extends EventBase {
  type: 'conflict'
  attempt: number
  /** What happens next: re-run the callbacks, or rebase the changeset (snapshot isolation). */
  resolution: 'rerun' | 'rebase'
  /** Milliseconds of backoff before the retry. */
  backoffMs: number
}

/** Compaction folded the log into a new snapshot. */
export interface CompactionEvent extends EventBase {
  type: 'compaction'
  seq: number
  snapshotKey: string
  snapshotBytes: number
  /** Log entries folded in. */
  folded: number
}

/** Garbage collection ran. */
export interface GcEvent extends EventBase {
  type: 'gc'
  deleted: number
  /** Unreachable objects kept because their grace period has not passed. */
  retained: number
}

/** Progress of a long transfer (snapshot download or upload). */
export interface ProgressEvent {
  type: 'progress'
  operation: 'snapshot-download' | 'snapshot-upload' | 'branch-copy'
  key: string
  bytesDone: number
  bytesTotal: number
}

/** The local replica was found unusable and rebuilt from the store. */
export interface RebuildEvent extends EventBase {
  type: 'rebuild'
  reason: string
}

/**
 * A background task failed; the database keeps working. 'auto-compact': a
 * compaction after a commit. 'local-commit': a write committed to the store but
 * the local replica could not record it (disk full); it is rebuilt.
 */
export interface BackgroundErrorEvent {
  type: 'error'
  operation: 'auto-compact' | 'local-commit'
  error: Error
}

/** Any event s3db emits. */
export type S3dbEvent =
  | SyncEvent
  | CommitEvent
  | ConflictEvent
  | CompactionEvent
  | GcEvent
  | ProgressEvent
  | RebuildEvent
  | BackgroundErrorEvent

/** Receives events; exceptions it throws are swallowed so logging can never break a write. */
export type EventHandler = (event: S3dbEvent) => void
