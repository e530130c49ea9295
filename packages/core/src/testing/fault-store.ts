import { NotFoundError, PreconditionFailedError, StoreUnavailableError } from '../errors.js'
import { ORPHAN_MIN_AGE_MS } from '../format/protocol.js'
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
import { deleteListed } from '../store/store-util.js'
import { sleep } from '../util/sleep.js'

/** The failures {@link FaultInjectingBlobStore} can inject. */
export type FaultKind =
  /** The request fails before it reaches the store (nothing applied). */
  | 'error-before'
  /** A write is applied but the client sees an error ("phantom" commit). */
  | 'error-after'
  /** A conditional PUT answered 409 ConditionalRequestConflict (not applied). */
  | 'conflict'
  /** 503 SlowDown before the request is applied. */
  | 'slowdown'
  /** A GET body stops half way with a connection error. */
  | 'truncate'
  /** A GET body arrives slowly. */
  | 'slow-body'
  /**
   * An object the current manifest no longer references disappears (GC racing
   * a reader), as real GC may delete it: only an object some manifest once
   * referenced, or one older than ORPHAN_MIN_AGE_MS. An upload or an offer not
   * yet published is younger than that while it matters (the publish window),
   * and GC spares it.
   */
  | 'vanish'
  /**
   * A write is applied, then the client sees an error that says nothing about
   * it (a plain Error or TypeError, as from a user's own store or a broken socket).
   */
  | 'unclassified-after'
  /**
   * A conditional PUT: the client gives up with an unclassified error while the
   * request is still in flight; it lands (or is refused by its condition) up to
   * 300 ms later.
   */
  | 'late-landing'

/** Options of {@link FaultInjectingBlobStore}. */
export interface FaultOptions {
  /** Seed of the deterministic random source. */
  seed: number
  /** Probability that a request gets a fault, 0..1. */
  rate: number
  /** Relative weights of the fault kinds (default: all equal). */
  faults?: Partial<Record<FaultKind, number>> | undefined
  /** Latency added to every request: mean and uniform jitter (ms). */
  latency?: { meanMs: number; jitterMs: number } | undefined
  /** Key of the manifest (to know which objects are unreferenced, for 'vanish'). */
  manifestKey?: string | undefined
}

const ALL: FaultKind[] = [
  'error-before',
  'error-after',
  'conflict',
  'slowdown',
  'truncate',
  'slow-body',
  'vanish',
  'unclassified-after',
  'late-landing',
]

/** mulberry32: small, fast, deterministic. */
function random(seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

type Op = 'get' | 'stat' | 'put' | 'cas' | 'list' | 'delete'

/** Which faults make sense for which request. */
const APPLICABLE: Record<Op, FaultKind[]> = {
  get: ['error-before', 'slowdown', 'truncate', 'slow-body', 'vanish'],
  stat: ['error-before', 'slowdown'],
  put: ['error-before', 'error-after', 'slowdown', 'unclassified-after'],
  cas: [
    'error-before',
    'error-after',
    'conflict',
    'slowdown',
    'unclassified-after',
    'late-landing',
  ],
  list: ['error-before', 'slowdown'],
  delete: ['error-before', 'error-after', 'slowdown'],
}

/**
 * Wraps a store and injects failures at a given rate, deterministically from a
 * seed: the failures real object stores and networks produce. Counts what it
 * injected in {@link injected}.
 */
export class FaultInjectingBlobStore implements BlobStore {
  readonly inner: BlobStore
  /** Faults injected so far, by kind. */
  readonly injected: Record<FaultKind, number> = Object.fromEntries(
    ALL.map((k) => [k, 0]),
  ) as Record<FaultKind, number>
  /** Set false to pause injection (e.g. while checking results). */
  enabled = true
  /** Late-landing requests still in flight. */
  readonly #late = new Set<Promise<unknown>>()
  /** Every object key a manifest seen through this store referenced. */
  readonly #everReferenced = new Set<string>()
  readonly #rand: () => number
  readonly #options: FaultOptions

  constructor(inner: BlobStore, options: FaultOptions) {
    this.inner = inner
    this.#options = options
    this.#rand = random(options.seed)
  }

  /** Resolves once every late-landing request has landed (or been refused). */
  async settled(): Promise<void> {
    while (this.#late.size > 0) {
      const all = [...this.#late]
      await Promise.all(all)
      for (const p of all) this.#late.delete(p)
    }
  }

  /** Total faults injected. */
  get total(): number {
    return Object.values(this.injected).reduce((a, b) => a + b, 0)
  }

  #pick(op: Op): FaultKind | undefined {
    if (!this.enabled || this.#rand() >= this.#options.rate) return undefined
    const weights = this.#options.faults
    const kinds = APPLICABLE[op].filter((k) => (weights ? (weights[k] ?? 0) > 0 : true))
    if (kinds.length === 0) return undefined
    const total = kinds.reduce((n, k) => n + (weights?.[k] ?? 1), 0)
    let r = this.#rand() * total
    for (const k of kinds) {
      r -= weights?.[k] ?? 1
      if (r <= 0) return k
    }
    return kinds.at(-1)
  }

  async #delay(signal: AbortSignal | undefined): Promise<void> {
    const l = this.#options.latency
    if (l) await sleep(Math.max(0, l.meanMs + (this.#rand() * 2 - 1) * l.jitterMs), signal)
  }

  #fail(kind: FaultKind, key: string, maybeApplied: boolean): never {
    this.injected[kind]++
    throw new StoreUnavailableError(`injected fault ${kind} on ${key}`, { maybeApplied })
  }

  async get(key: string, options?: GetOptions): Promise<BlobData | NotModified> {
    await this.#delay(options?.signal)
    const fault = this.#pick('get')
    if (fault === 'error-before' || fault === 'slowdown') this.#fail(fault, key, false)
    if (fault === 'vanish' && (await this.#vanish(key))) throw new NotFoundError(key)
    const res = await this.inner.get(key, options)
    if (!res.notModified) this.#observe(key, res.body)
    if (fault === 'truncate' && !res.notModified && res.body.byteLength > 1)
      this.#fail(fault, key, false)
    if (fault === 'slow-body') {
      this.injected[fault]++
      await sleep(50 + this.#rand() * 200, options?.signal)
    }
    return res
  }

  async getStream(key: string, options?: GetOptions): Promise<BlobStream | NotModified> {
    await this.#delay(options?.signal)
    const fault = this.#pick('get')
    if (fault === 'error-before' || fault === 'slowdown') this.#fail(fault, key, false)
    if (fault === 'vanish' && (await this.#vanish(key))) throw new NotFoundError(key)
    const res = await this.inner.getStream(key, options)
    if (res.notModified || (fault !== 'truncate' && fault !== 'slow-body')) return res
    const inner = res.body
    const injected = this.injected
    const rand = this.#rand
    const half = Math.floor(res.size / 2)
    const shaped = {
      async *[Symbol.asyncIterator]() {
        injected[fault]++
        let sent = 0
        for await (const chunk of inner) {
          if (fault === 'truncate' && sent + chunk.byteLength > half) {
            inner.destroy?.()
            throw new StoreUnavailableError(`injected fault truncate on ${key}`, {
              maybeApplied: false,
            })
          }
          if (fault === 'slow-body') await sleep(5 + rand() * 20)
          sent += chunk.byteLength
          yield chunk
        }
      },
      destroy: (err?: Error) => inner.destroy?.(err),
    }
    return { ...res, body: shaped }
  }

  async stat(key: string, options?: CallOptions): Promise<BlobInfo> {
    await this.#delay(options?.signal)
    const fault = this.#pick('stat')
    if (fault) this.#fail(fault, key, false)
    return this.inner.stat(key, options)
  }

  async put(key: string, body: PutBody, options?: PutOptions): Promise<{ etag: string }> {
    await this.#delay(options?.signal)
    const conditional = options?.ifMatch !== undefined || options?.ifNoneMatch === true
    const fault = this.#pick(conditional ? 'cas' : 'put')
    if (fault === 'error-before' || fault === 'slowdown') this.#fail(fault, key, false)
    if (fault === 'conflict') {
      this.injected.conflict++
      throw new PreconditionFailedError(key)
    }
    if (fault === 'late-landing') {
      this.injected[fault]++
      const delay = this.#rand() * 300
      this.#late.add(
        sleep(delay)
          .then(() => this.inner.put(key, body, options))
          .catch(() => {}),
      )
      throw new Error(`injected fault late-landing on ${key}: socket hang up`)
    }
    const res = await this.inner.put(key, body, options)
    this.#observe(key, body)
    if (fault === 'error-after') this.#fail(fault, key, true)
    if (fault === 'unclassified-after') {
      this.injected[fault]++
      throw this.#rand() < 0.5
        ? new TypeError(`injected fault unclassified-after on ${key}: fetch failed`)
        : new Error(`injected fault unclassified-after on ${key}`)
    }
    return res
  }

  async *list(prefix: string, options?: CallOptions): AsyncIterable<ListEntry> {
    await this.#delay(options?.signal)
    const fault = this.#pick('list')
    if (fault) this.#fail(fault, prefix, false)
    yield* this.inner.list(prefix, options)
  }

  async delete(key: string, options?: CallOptions): Promise<void> {
    await this.#delay(options?.signal)
    const fault = this.#pick('delete')
    if (fault === 'error-before' || fault === 'slowdown') this.#fail(fault, key, false)
    await this.inner.delete(key, options)
    if (fault === 'error-after') this.#fail(fault, key, true)
  }

  async deleteMany(keys: readonly string[], options?: CallOptions): Promise<void> {
    await this.#delay(options?.signal)
    const fault = this.#pick('delete')
    if (fault === 'error-before' || fault === 'slowdown') this.#fail(fault, keys[0] ?? '', false)
    await this.inner.deleteMany(keys, options)
    if (fault === 'error-after') this.#fail(fault, keys[0] ?? '', true)
  }

  deletePrefix(prefix: string, options?: CallOptions): Promise<number> {
    return deleteListed(this, prefix, options)
  }

  /** Remembers the object keys a manifest body (read or sent) references. */
  #observe(key: string, body: PutBody): void {
    if (key === this.#options.manifestKey && body instanceof Uint8Array)
      this.#remember(new TextDecoder().decode(body))
  }

  #remember(manifest: string): void {
    for (const m of manifest.matchAll(/"([^"]*\/(?:snapshots|changesets)\/[^"]*)"/g))
      this.#everReferenced.add(m[1]!)
  }

  /**
   * Deletes `key` if it is an immutable object the current manifest does not
   * reference and GC could delete: some manifest once referenced it, or it is
   * older than ORPHAN_MIN_AGE_MS by the store's clock.
   */
  async #vanish(key: string): Promise<boolean> {
    const manifestKey = this.#options.manifestKey
    if (!manifestKey || key === manifestKey || !/\/(snapshots|changesets)\//.test(key)) return false
    try {
      const m = await this.inner.get(manifestKey)
      if (m.notModified) return false
      const manifest = new TextDecoder().decode(m.body)
      this.#remember(manifest)
      if (manifest.includes(`"${key}"`)) return false
      if (!this.#everReferenced.has(key)) {
        const { lastModified } = await this.inner.stat(key)
        if (!lastModified || Date.now() - lastModified.getTime() < ORPHAN_MIN_AGE_MS) return false
      }
      await this.inner.delete(key)
      this.injected.vanish++
      return true
    } catch {
      return false
    }
  }
}
