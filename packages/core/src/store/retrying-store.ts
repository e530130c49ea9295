import { AbortedError, S3dbError, StoreUnavailableError } from '../errors.js'
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
    return this.#retry(
      () => typed(this.inner.get(key, options), key, false, options),
      options?.signal,
    )
  }

  getStream(key: string, options?: GetOptions): Promise<BlobStream | NotModified> {
    return this.#retry(
      () => typed(this.inner.getStream(key, options), key, false, options),
      options?.signal,
    )
  }

  stat(key: string, options?: CallOptions): Promise<BlobInfo> {
    return this.#retry(
      () => typed(this.inner.stat(key, options), key, false, options),
      options?.signal,
    )
  }

  put(key: string, body: PutBody, options?: PutOptions): Promise<{ etag: string }> {
    if (options?.ifMatch !== undefined || options?.ifNoneMatch)
      return typed(this.inner.put(key, body, options), key, true, options)
    return this.#retry(
      () => typed(this.inner.put(key, body, options), key, true, options),
      options?.signal,
    )
  }

  /** Copies are to fresh keys, so they are safe to repeat. */
  get copy():
    | ((from: string, to: string, options?: CallOptions) => Promise<{ etag: string }>)
    | undefined {
    const inner = this.inner
    if (!inner.copy) return undefined
    return (from, to, options) =>
      this.#retry(() => typed(inner.copy!(from, to, options), to, true, options), options?.signal)
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
      } catch (raw) {
        const err = typedError(raw, prefix, false, options)
        if (!isTransient(err) || attempt + 1 >= this.#attempts) throw err
        await this.#runtime.sleep(
          backoffDelay(attempt, 50, 2000, this.#runtime.random),
          options?.signal,
        )
      }
    }
  }

  delete(key: string, options?: CallOptions): Promise<void> {
    return this.#retry(
      () => typed(this.inner.delete(key, options), key, true, options),
      options?.signal,
    )
  }

  deleteMany(keys: readonly string[], options?: CallOptions): Promise<void> {
    return this.#retry(
      () => typed(this.inner.deleteMany(keys, options), keys[0] ?? '', true, options),
      options?.signal,
    )
  }

  deletePrefix(prefix: string, options?: CallOptions): Promise<number> {
    return deleteListed(this, prefix, options)
  }

  #retry<T>(fn: () => Promise<T>, signal: AbortSignal | undefined): Promise<T> {
    return retryTransient(fn, this.#attempts, signal, this.#runtime)
  }
}

/**
 * A store's failure as a typed error. s3db's own stores raise S3dbErrors; a
 * user's BlobStore (or a broken socket under it) may throw anything. What is
 * not an S3dbError says nothing about the request, so it is a transient
 * StoreUnavailable that may have been applied if it was a write; an abort the
 * caller asked for stays an abort.
 */
async function typed<T>(
  request: Promise<T>,
  key: string,
  write: boolean,
  options: CallOptions | undefined,
): Promise<T> {
  try {
    return await request
  } catch (err) {
    throw typedError(err, key, write, options)
  }
}

function typedError(
  err: unknown,
  key: string,
  write: boolean,
  options: CallOptions | undefined,
): S3dbError {
  if (err instanceof S3dbError) return err
  if (options?.signal?.aborted && !write) return new AbortedError(undefined, { cause: err })
  const what = err instanceof Error ? `${err.name}: ${err.message}` : String(err)
  return new StoreUnavailableError(
    `the store failed on ${key} (${what}); the request ${write ? 'may have been applied' : 'was not answered'}`,
    { maybeApplied: write, cause: err },
  )
}
