import type { EventHandler, S3dbEvent } from './events.js'
import type { DatabaseKeys, Manifest } from './format/manifest.js'
import type { LocalReplica } from './replica/local-replica.js'
import type { BlobStore } from './store/blob-store.js'
import type { CountingBlobStore, RequestCounts } from './store/counting-store.js'
import { diffCounts } from './store/counting-store.js'
import type { Mutex } from './util/mutex.js'
import type { ReadWriteLock } from './util/rw-lock.js'

/** The newest manifest this process knows, with its ETag. */
export interface RemoteState {
  manifest: Manifest
  etag: string
  /** When the store last confirmed this is current (ms since epoch). */
  confirmedAt: number
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
  /** Serialises use of the writer connection: commits, syncs, compaction's snapshot. */
  readonly writerLock: Mutex
  /** Views hold it shared; replacing the replica file takes it exclusively. */
  readonly readLock: ReadWriteLock
  remote: RemoteState
  /** When the replica last took in commits made by other processes (ms since epoch). */
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
  store: CountingBlobStore,
): () => { durationMs: number; requests: RequestCounts } {
  const start = performance.now()
  const before = store.snapshot()
  return () => ({
    durationMs: performance.now() - start,
    requests: diffCounts(store.snapshot(), before),
  })
}

/** Adopts `manifest` as the newest known one unless we already know a newer one. */
export function adoptRemote(ctx: EngineContext, manifest: Manifest, etag: string): void {
  if (manifest.seq < ctx.remote.manifest.seq) return
  ctx.remote = { manifest, etag, confirmedAt: Date.now() }
}
