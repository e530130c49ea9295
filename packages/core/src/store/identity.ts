import type { BlobStore } from './blob-store.js'
import { FileSystemBlobStore } from './filesystem-store.js'
import { MemoryBlobStore } from './memory-store.js'
import { S3BlobStore } from './s3-store.js'

const identities = new WeakMap<BlobStore, string>()
let nextIdentity = 0

/**
 * A stable name for the store, so a replica file is never reused for another
 * database and a pulled file is not pushed to another store. A wrapper (counting,
 * retrying, latency, fault injection) has the identity of the store it wraps.
 */
export function storeIdentity(store: BlobStore): string {
  const inner = (store as { inner?: unknown }).inner
  if (isBlobStore(inner)) return storeIdentity(inner)
  if (store instanceof FileSystemBlobStore) return `file://${store.root}`
  if (store instanceof S3BlobStore) return `s3://${store.bucket}`
  let id = identities.get(store)
  if (!id) {
    id = `${store instanceof MemoryBlobStore ? 'memory' : 'store'}:${process.pid}:${nextIdentity++}:${Date.now()}`
    identities.set(store, id)
  }
  return id
}

function isBlobStore(value: unknown): value is BlobStore {
  const v = value as Partial<BlobStore> | undefined
  return typeof v?.get === 'function' && typeof v.put === 'function' && typeof v.list === 'function'
}
