/**
 * TEST-ONLY: a store wrapper that drops If-Match/If-None-Match from every write,
 * as some "S3-compatible" servers silently do: lets tests show checkStore and
 * `s3db doctor` catching such a server. It makes concurrent writes unsafe.
 *
 * @module
 */
import type {
  BlobData,
  BlobInfo,
  BlobStore,
  BlobStream,
  CallOptions,
  GetOptions,
  ListEntry,
  NotModified,
  PutBody,
  PutOptions,
} from '../store/blob-store.js'

export class IgnoreConditionsStore implements BlobStore {
  readonly inner: BlobStore
  constructor(inner: BlobStore) {
    this.inner = inner
  }
  get(key: string, options?: GetOptions): Promise<BlobData | NotModified> {
    return this.inner.get(key, options)
  }
  getStream(key: string, options?: GetOptions): Promise<BlobStream | NotModified> {
    return this.inner.getStream(key, options)
  }
  stat(key: string, options?: CallOptions): Promise<BlobInfo> {
    return this.inner.stat(key, options)
  }
  put(key: string, body: PutBody, options: PutOptions = {}): Promise<{ etag: string }> {
    return this.inner.put(key, body, { signal: options.signal, contentType: options.contentType })
  }
  list(prefix: string, options?: CallOptions): AsyncIterable<ListEntry> {
    return this.inner.list(prefix, options)
  }
  delete(key: string, options?: CallOptions): Promise<void> {
    return this.inner.delete(key, options)
  }
  deleteMany(keys: readonly string[], options?: CallOptions): Promise<void> {
    return this.inner.deleteMany(keys, options)
  }
  deletePrefix(prefix: string, options?: CallOptions): Promise<number> {
    return this.inner.deletePrefix(prefix, options)
  }
}
