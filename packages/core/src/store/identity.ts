import type { BlobStore } from './blob-store.js'
import { FileSystemBlobStore } from './filesystem-store.js'
import { MemoryBlobStore } from './memory-store.js'
import { S3BlobStore } from './s3-store.js'

const identities = new WeakMap<BlobStore, string>()
let nextIdentity = 0

/** A stable name for the store, so a replica file is never reused for another database. */
export function storeIdentity(store: BlobStore): string {
  if (store instanceof FileSystemBlobStore) return `file://${store.root}`
  if (store instanceof S3BlobStore) return `s3://${store.bucket}`
  let id = identities.get(store)
  if (!id) {
    id = `${store instanceof MemoryBlobStore ? 'memory' : 'store'}:${process.pid}:${nextIdentity++}:${Date.now()}`
    identities.set(store, id)
  }
  return id
}
