/**
 * @s3db/core: a concurrency-safe SQLite database that lives in S3 (or any store
 * with conditional writes). See the README for a quick start.
 *
 * @module
 */

// First: refuses an unsupported Node.js before any native module loads.
import './node-version.js'

export type { CompactResult } from './compact.js'
export * from './errors.js'
export type * from './events.js'
export { FormatTooNewError } from './format/manifest.js'
export type { GcResult } from './gc.js'
export type { HistoryPoint } from './history.js'
export type {
  BranchResult,
  HistoryOptions,
  LogEntry,
  RestoreOptions,
  RestoreResult,
  TableCounts,
} from './history-ops.js'
export type { Migration } from './migrate.js'
export { LocalCacheLockedError } from './replica/local-replica.js'
export {
  type GcCallOptions,
  type ReadConsistency,
  S3db,
  type S3dbOptions,
  type S3dbStats,
  type TransactionOptions,
  type UpdateOptions,
} from './s3db.js'
export type {
  BlobData,
  BlobInfo,
  BlobStore,
  BlobStream,
  BodySource,
  ByteRange,
  CallOptions,
  GetOptions,
  ListEntry,
  ListOptions,
  NotModified,
  PutBody,
  PutOptions,
} from './store/blob-store.js'
export { fileBody } from './store/body.js'
export {
  type CheckStoreOptions,
  checkStore,
  type StoreCheck,
  type StoreCheckReport,
} from './store/check-store.js'
export type { RequestCounts } from './store/counting-store.js'
export { FileSystemBlobStore } from './store/filesystem-store.js'
export { MemoryBlobStore } from './store/memory-store.js'
export { S3BlobStore, type S3BlobStoreOptions } from './store/s3-store.js'
export type { PulledSeq, PushGuard, TransferOptions, TransferResult } from './transfer.js'
export { seqFileFor } from './transfer.js'
export type { ColumnInfo, RunResult, SqlParams, Statement, Tx } from './tx.js'
export { TransactionEndedError } from './tx.js'
export type { Isolation } from './write-queue.js'
