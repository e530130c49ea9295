import type { EventHandler, S3dbEvent } from './events.js'
import type { DatabaseKeys, Manifest } from './format/manifest.js'
import type { LocalReplica } from './replica/local-replica.js'
import type { Runtime } from './runtime.js'
import type { BlobStore } from './store/blob-store.js'
import type { CountingBlobStore, RequestCounts } from './store/counting-store.js'
import { diffCounts } from './store/counting-store.js'
import type { Mutex } from './util/mutex.js'
import type { ReadWriteLock } from './util/rw-lock.js'

/** The newest manifest this process knows, with its ETag. */
export interface RemoteState {
  manifest: Manifest
  etag: string
  /** When the store last confirmed this is current ({@link Runtime.monotonic}). */
  confirmedAt: number
  /**
   * Orders what we learn about the manifest: a read counts from when it was
   * sent, our own successful CAS from when it returned. A newer ticket always
   * wins, even with a lower seq (an operator restored an older manifest).
   */
  ticket: number
}

/** Tunables of downloads. */
export interface TransferSettings {
  /** Parallel GETs for changesets and snapshot ranges. */
  fetchConcurrency: number
  /** Snapshots download as parallel ranges of at least this many bytes... */
  minRangeBytes: number
  /** ...and at most this many. */
  maxRangeBytes: number
}

/**
 * Download tuning: 16 parallel GETs (S3 scales with connections). A snapshot of
 * 4 MiB or more is fetched as up to 16 equal ranges of 2 to 8 MiB in parallel,
 * which beats one stream wherever bandwidth is per connection, as on S3. Smaller
 * ranges looked better on the latency-shaped store but were slower on MinIO (more
 * requests per byte) and expose a download to more of S3's tail latency; 8 MiB is
 * the size AWS recommends, and bounds what a failed range fetches again
 * (bench: cold-open).
 */
export const DEFAULT_TRANSFER_SETTINGS: TransferSettings = {
  fetchConcurrency: 16,
  minRangeBytes: 2 * 1024 * 1024,
  maxRangeBytes: 8 * 1024 * 1024,
}

/** Tunables the protocol steps read. */
export interface EngineSettings extends TransferSettings {
  maxRetries: number
  gcGracePeriodMs: number
  /** Transactions read INTEGER values as bigint (the `safeIntegers` option). */
  safeIntegers?: boolean | undefined
}

/** Everything a protocol step needs: shared by open, sync, commit, compact, gc. */
export interface EngineContext {
  /** The store as the protocol uses it: transient failures of safe requests retried. */
  readonly store: BlobStore
  /** Counts the requests actually sent (for stats and events). */
  readonly counter: CountingBlobStore
  readonly keys: DatabaseKeys
  readonly replica: LocalReplica
  readonly settings: EngineSettings
  /** Clock, randomness and ids (simulated in the deterministic simulator). */
  readonly runtime: Runtime
  /** Serialises use of the writer connection: commits, syncs, compaction's snapshot. */
  readonly writerLock: Mutex
  /** Views hold it shared; replacing the replica file takes it exclusively. */
  readonly readLock: ReadWriteLock
  remote: RemoteState
  /** Next ticket for {@link RemoteState.ticket}. */
  nextTicket: number
  /** When the replica last took in commits made by other processes ({@link Runtime.monotonic}). */
  foreignSeenAt: number
  emit(event: S3dbEvent): void
}

/** Calls the user's handler, never letting it break the database. */
export function safeEmitter(handler: EventHandler | undefined): (event: S3dbEvent) => void {
  return (event) => {
    if (!handler) return
    try {
      handler(event)
    } catch {
      // A broken logger must not break a write.
    }
  }
}

/** Measures an operation: its duration and the store requests it sent. */
export function measure(
  ctx: Pick<EngineContext, 'counter' | 'runtime'>,
): () => { durationMs: number; requests: RequestCounts } {
  const start = ctx.runtime.monotonic()
  const before = ctx.counter.snapshot()
  return () => ({
    durationMs: ctx.runtime.monotonic() - start,
    requests: diffCounts(ctx.counter.snapshot(), before),
  })
}

/** A ticket for a manifest request about to be sent (see {@link RemoteState.ticket}). */
export function takeTicket(ctx: EngineContext): number {
  return ctx.nextTicket++
}

/**
 * Adopts `manifest` as the current one unless something learnt from a later
 * request is already known. Seq is not the order: it goes down when an
 * operator restores an older manifest, and that must be seen.
 */
export function adoptRemote(
  ctx: EngineContext,
  manifest: Manifest,
  etag: string,
  ticket: number,
): void {
  if (ticket < ctx.remote.ticket) return
  ctx.remote = { manifest, etag, confirmedAt: ctx.runtime.monotonic(), ticket }
}
