import { NotFoundError, PreconditionFailedError, throwIfAborted } from '../errors.js'
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
} from './blob-store.js'
import { bodyBytes, md5Hex, normalizeEtag } from './body.js'
import { validateKey, validatePrefix } from './keys.js'
import { clampRange } from './range.js'
import { assertOneCondition, checkMaxBytes, compareKeys, deleteListed } from './store-util.js'

interface Entry {
  body: Uint8Array
  etag: string
  lastModified: Date
}

/**
 * An in-memory store with the same compare-and-swap semantics as S3: ETags are
 * content MD5s, `ifMatch`/`ifNoneMatch` are checked atomically. For tests and
 * benchmarks; nothing survives the process.
 */
export class MemoryBlobStore implements BlobStore {
  readonly #objects = new Map<string, Entry>()

  async get(key: string, options: GetOptions = {}): Promise<BlobData | NotModified> {
    const read = this.#read(key, options)
    if ('notModified' in read) return read
    return { notModified: false, ...read.info, body: read.bytes.slice() }
  }

  async getStream(key: string, options: GetOptions = {}): Promise<BlobStream | NotModified> {
    const read = this.#read(key, options)
    if ('notModified' in read) return read
    // Copied a chunk at a time: a stream never holds a second copy of the object.
    return { notModified: false, ...read.info, body: chunked(read.bytes) }
  }

  /** What a GET of `key` answers: not modified, or the (ranged) bytes, not yet copied. */
  #read(key: string, options: GetOptions): NotModified | { info: BlobInfo; bytes: Uint8Array } {
    const entry = this.#entry(key, options)
    if (options.ifNoneMatch !== undefined && normalizeEtag(options.ifNoneMatch) === entry.etag) {
      return { notModified: true, etag: entry.etag }
    }
    checkMaxBytes(key, entry.body.byteLength, options.maxBytes)
    const [start, end] = options.range
      ? clampRange(options.range, entry.body.byteLength)
      : [0, entry.body.byteLength]
    return {
      info: { etag: entry.etag, size: entry.body.byteLength, lastModified: entry.lastModified },
      bytes: entry.body.subarray(start, end),
    }
  }

  async stat(key: string, options: CallOptions = {}): Promise<BlobInfo> {
    const entry = this.#entry(key, options)
    return { etag: entry.etag, size: entry.body.byteLength, lastModified: entry.lastModified }
  }

  async put(key: string, body: PutBody, options: PutOptions = {}): Promise<{ etag: string }> {
    validateKey(key)
    assertOneCondition(options)
    throwIfAborted(options.signal)
    const bytes = Uint8Array.from(await bodyBytes(body))
    throwIfAborted(options.signal)
    // Check and swap with no await in between: that is what makes it atomic here.
    const current = this.#objects.get(key)
    if (options.ifNoneMatch && current) throw new PreconditionFailedError(key)
    if (
      options.ifMatch !== undefined &&
      (!current || current.etag !== normalizeEtag(options.ifMatch))
    ) {
      throw new PreconditionFailedError(key)
    }
    const etag = md5Hex(bytes)
    this.#objects.set(key, { body: bytes, etag, lastModified: new Date() })
    return { etag }
  }

  /** Copies an object (the bytes are shared: objects are never changed in place). */
  async copy(from: string, to: string, options: CallOptions = {}): Promise<{ etag: string }> {
    validateKey(to)
    const entry = this.#entry(from, options)
    this.#objects.set(to, { body: entry.body, etag: entry.etag, lastModified: new Date() })
    return { etag: entry.etag }
  }

  async *list(prefix: string, options: CallOptions = {}): AsyncIterable<ListEntry> {
    validatePrefix(prefix)
    throwIfAborted(options.signal)
    const keys = [...this.#objects.keys()].filter((k) => k.startsWith(prefix)).sort(compareKeys)
    for (const key of keys) {
      const entry = this.#objects.get(key)
      if (!entry) continue
      yield { key, size: entry.body.byteLength, etag: entry.etag, lastModified: entry.lastModified }
    }
  }

  async delete(key: string, options: CallOptions = {}): Promise<void> {
    validateKey(key)
    throwIfAborted(options.signal)
    this.#objects.delete(key)
  }

  async deleteMany(keys: readonly string[], options: CallOptions = {}): Promise<void> {
    for (const key of keys) validateKey(key)
    throwIfAborted(options.signal)
    for (const key of keys) this.#objects.delete(key)
  }

  deletePrefix(prefix: string, options?: CallOptions): Promise<number> {
    return deleteListed(this, prefix, options)
  }

  #entry(key: string, options: CallOptions): Entry {
    validateKey(key)
    throwIfAborted(options.signal)
    const entry = this.#objects.get(key)
    if (!entry) throw new NotFoundError(key)
    return entry
  }
}

async function* chunked(bytes: Uint8Array, size = 1 << 20): AsyncIterable<Uint8Array> {
  for (let i = 0; i < bytes.byteLength; i += size) yield bytes.slice(i, i + size)
}
