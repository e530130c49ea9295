/**
 * The store as every command sees it: the manifest write (the one request
 * that changes a database) is never cut off by Ctrl-C, and what the command
 * did to the store is recorded, so an interrupted command can say truthfully
 * whether anything changed.
 *
 * Why shield the manifest write: an aborted PUT may still be applied by the
 * server, and then no one can say whether the database changed. Everything
 * before it (uploading a snapshot or changeset, fetching, syncing) is stopped
 * at once; the manifest write is one small request that finishes on its own
 * (a second Ctrl-C still ends the process, saying the outcome is unknown).
 *
 * @module
 */
import {
  type BlobData,
  type BlobInfo,
  type BlobStore,
  type BlobStream,
  type CallOptions,
  type GetOptions,
  isS3dbError,
  type ListEntry,
  type NotModified,
  type PutBody,
  type PutOptions,
} from '@s3db/core'
import type { StoreActivity } from './interrupts.js'

export class PublishGuardStore implements BlobStore {
  readonly inner: BlobStore
  readonly #manifestKey: string
  readonly #activity: StoreActivity

  constructor(inner: BlobStore, manifestKey: string, activity: StoreActivity) {
    this.inner = inner
    this.#manifestKey = manifestKey
    this.#activity = activity
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

  async put(key: string, body: PutBody, options: PutOptions = {}): Promise<{ etag: string }> {
    this.#activity.touched = true
    if (key !== this.#manifestKey) return this.inner.put(key, body, options)
    const { signal: _notForThisOne, ...unabortable } = options
    this.#activity.publishing++
    try {
      const result = await this.inner.put(key, body, unabortable)
      this.#activity.published = true
      return result
    } catch (err) {
      // A lost compare-and-swap is a clean "no"; anything else may have applied.
      if (!isS3dbError(err, 'PreconditionFailed')) this.#activity.uncertain = true
      throw err
    } finally {
      this.#activity.publishing--
    }
  }

  list(prefix: string, options?: CallOptions): AsyncIterable<ListEntry> {
    return this.inner.list(prefix, options)
  }

  /** Server-side copies (branch), where the store has them. */
  get copy():
    | ((from: string, to: string, options?: CallOptions) => Promise<{ etag: string }>)
    | undefined {
    const inner = this.inner
    if (!inner.copy) return undefined
    return (from, to, options) => {
      this.#activity.touched = true
      return inner.copy!(from, to, options)
    }
  }

  delete(key: string, options?: CallOptions): Promise<void> {
    this.#activity.touched = true
    return this.inner.delete(key, options)
  }

  deleteMany(keys: readonly string[], options?: CallOptions): Promise<void> {
    this.#activity.touched = true
    return this.inner.deleteMany(keys, options)
  }

  deletePrefix(prefix: string, options?: CallOptions): Promise<number> {
    this.#activity.touched = true
    return this.inner.deletePrefix(prefix, options)
  }
}
