/**
 * @s3db/core: a concurrency-safe SQLite database that lives in S3 (or any store
 * with conditional writes). See the README for a quick start.
 *
 * @module
 */
export * from './errors.js'
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
export { FileSystemBlobStore } from './store/filesystem-store.js'
export { MemoryBlobStore } from './store/memory-store.js'
export { S3BlobStore, type S3BlobStoreOptions } from './store/s3-store.js'
