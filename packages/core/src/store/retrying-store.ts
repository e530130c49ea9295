import { type Runtime, systemRuntime } from '../runtime.js'
import { backoffDelay } from '../util/backoff.js'
import { isTransient, retryTransient } from '../util/retry.js'
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
import { compareKeys, deleteListed } from './store-util.js'

/**
 * Retries transient store failures (`StoreUnavailableError` with `retryable`) of
 * requests that are safe to repeat: reads, lists, deletes, and unconditional
 * PUTs (s3db only writes unique, immutable keys unconditionally). Conditional
 * PUTs are never repeated here: their outcome must be decided by the commit
 * protocol, which knows how to find out whether an attempt landed.
 */
export class RetryingBlobStore implements BlobStore {
  readonly inner: BlobStore
  readonly #attempts: number
  readonly #runtime: Runtime

  constructor(inner: BlobStore, attempts = 5, runtime: Runtime = systemRuntime) {
    this.inner = inner
    this.#attempts = attempts
    this.#runtime = runtime
  }

  get(key: string, options?: GetOptions): Promise<BlobData | NotModified> {
    return this.#retry(() => this.inner.get(key, options), options?.signal)
  }

  getStream(key: string, options?: GetOptions): Promise<BlobStream | NotModified> {
    return this.#retry(() => this.inner.getStream(key, options), options?.signal)
  }

  stat(key: string, options?: CallOptions): Promise<BlobInfo> {
    return this.#retry(() => this.inner.stat(key, options), options?.signal)
  }

  put(key: string, body: PutBody, options?: PutOptions): Promise<{ etag: string }> {
    if (options?.ifMatch !== undefined || options?.ifNoneMatch)
      return this.inner.put(key, body, options)
    return this.#retry(() => this.inner.put(key, body, options), options?.signal)
  }

  async *list(prefix: string, options?: CallOptions): AsyncIterable<ListEntry> {
    // A failed listing restarts, skipping keys already yielded (lists are in key order).
    let last: string | undefined
    for (let attempt = 0; ; attempt++) {
      try {
        for await (const entry of this.inner.list(prefix, options)) {
          if (last !== undefined && compareKeys(entry.key, last) <= 0) continue
          last = entry.key
          yield entry
        }
        return
      } catch (err) {
        if (!isTransient(err) || attempt + 1 >= this.#attempts) throw err
        await this.#runtime.sleep(
          backoffDelay(attempt, 50, 2000, this.#runtime.random),
          options?.signal,
        )
      }
    }
  }

  delete(key: string, options?: CallOptions): Promise<void> {
    return this.#retry(() => this.inner.delete(key, options), options?.signal)
  }

  deleteMany(keys: readonly string[], options?: CallOptions): Promise<void> {
    return this.#retry(() => this.inner.deleteMany(keys, options), options?.signal)
  }

  deletePrefix(prefix: string, options?: CallOptions): Promise<number> {
    return deleteListed(this, prefix, options)
  }

  #retry<T>(fn: () => Promise<T>, signal: AbortSignal | undefined): Promise<T> {
    return retryTransient(fn, this.#attempts, signal, this.#runtime)
  }
}
