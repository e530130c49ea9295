/**
 * Sync: learn the current manifest (conditionally) and bring the local replica
 * to it, by applying new changesets or, when the log no longer reaches back to
 * the replica, by downloading the snapshot.
 *
 * @module
 */
import { unlink } from 'node:fs/promises'
import Database from 'better-sqlite3'
import { applyChangeset, type ChangeCapture } from './changeset/index.js'
import {
  adoptRemote,
  type EngineContext,
  measure,
  type RemoteState,
  type TransferSettings,
  takeTicket,
} from './context.js'
import {
  CorruptError,
  isS3dbError,
  type NotFoundError,
  ObjectTooLargeError,
  S3dbError,
} from './errors.js'
import {
  type BlobRef,
  type DatabaseKeys,
  headKey,
  keyAtSeq,
  MAX_MANIFEST_BYTES,
  type Manifest,
  parseManifest,
} from './format/manifest.js'
import type { Publisher } from './publish.js'
import { type Runtime, systemRuntime } from './runtime.js'
import { downloadSnapshot } from './snapshot-download.js'
import type { BlobStore } from './store/blob-store.js'
import { forEachLimited } from './util/pool.js'

/** A manifest read from the store, with its ETag. */
export interface FetchedManifest {
  manifest: Manifest
  etag: string
  lastModified?: Date | undefined
  /** The store's clock when it answered, where it reports one. */
  storeTime?: Date | undefined
}

/**
 * Reads and validates the manifest. Throws NotFoundError when there is none, and
 * Corrupt for one larger than MAX_MANIFEST_BYTES, without reading it.
 */
export async function readManifest(
  store: BlobStore,
  key: string,
  prefix: string,
  signal?: AbortSignal,
): Promise<FetchedManifest> {
  const fetched = await readManifestIfChanged(store, key, prefix, undefined, signal)
  if (!fetched) throw new Error('unexpected notModified')
  return fetched
}

/** {@link readManifest}, or undefined when its ETag is still `etag` (a conditional GET). */
export async function readManifestIfChanged(
  store: BlobStore,
  key: string,
  prefix: string,
  etag: string | undefined,
  signal?: AbortSignal,
): Promise<FetchedManifest | undefined> {
  const res = await store.get(key, { ifNoneMatch: etag, signal, maxBytes: MAX_MANIFEST_BYTES })
  if (res.notModified) return undefined
  return {
    manifest: parseManifest(res.body, key, prefix),
    etag: res.etag,
    lastModified: res.lastModified,
    storeTime: res.storeTime,
  }
}

/**
 * Asks the store whether the manifest changed since the one we know (one
 * conditional GET) and adopts the newer one. Returns true when it changed.
 */
export async function refreshManifest(ctx: EngineContext, signal?: AbortSignal): Promise<boolean> {
  const ticket = takeTicket(ctx)
  const known = ctx.remote
  const fetched = await readManifestIfChanged(
    ctx.store,
    ctx.keys.manifest,
    ctx.keys.prefix,
    known.etag,
    signal,
  )
  if (!fetched) {
    adoptRemote(ctx, known.manifest, known.etag, ticket)
    return false
  }
  adoptRemote(ctx, fetched.manifest, fetched.etag, ticket)
  return true
}

/** Reads the manifest unconditionally and adopts it. */
export async function reloadManifest(
  ctx: EngineContext,
  signal?: AbortSignal,
): Promise<FetchedManifest> {
  const ticket = takeTicket(ctx)
  const fetched = await readManifest(ctx.store, ctx.keys.manifest, ctx.keys.prefix, signal)
  adoptRemote(ctx, fetched.manifest, fetched.etag, ticket)
  return fetched
}

/** The publishing path for tools that have a store but no open database (init, push). */
export function storePublisher(
  store: BlobStore,
  keys: DatabaseKeys,
  runtime: Runtime = systemRuntime,
): Publisher {
  return {
    store,
    keys,
    runtime,
    read: () => readManifest(store, keys.manifest, keys.prefix),
    wrote: () => {},
  }
}

/** The publishing path's view of an open database: reads and writes adopt the manifest. */
export function contextPublisher(ctx: EngineContext): Publisher {
  return {
    store: ctx.store,
    keys: ctx.keys,
    runtime: ctx.runtime,
    read: () => reloadManifest(ctx),
    wrote: ({ manifest, etag }) => adoptRemote(ctx, manifest, etag, takeTicket(ctx)),
  }
}

/**
 * Fetches changesets in parallel (bounded), returned in order. Each must be
 * non-empty and, when the manifest records its size, exactly that long (a
 * longer one is refused without reading past the size).
 */
export async function fetchChangesets(
  store: BlobStore,
  refs: readonly BlobRef[],
  concurrency: number,
  signal?: AbortSignal,
): Promise<Uint8Array[]> {
  const out: Uint8Array[] = new Array(refs.length)
  await forEachLimited(refs, concurrency, async (ref, i) => {
    // Carried in the manifest (its `data`, checked against its size there).
    if (ref.data !== undefined) {
      out[i] = ref.data
      return
    }
    const res = await store
      .get(ref.key, { signal, maxBytes: ref.size > 0 ? ref.size : undefined })
      .catch((err: unknown) => {
        if (err instanceof ObjectTooLargeError) throw sizeMismatch(ref, `more than ${ref.size}`)
        throw err
      })
    if (res.notModified) throw new Error('unexpected notModified')
    // No writer publishes a commit without changes: an empty object is a
    // truncated one, and applying it as "no changes" would drop the commit's rows.
    if (res.body.byteLength === 0 || (ref.size > 0 && res.body.byteLength !== ref.size)) {
      throw sizeMismatch(ref, String(res.body.byteLength))
    }
    out[i] = res.body
  })
  return out
}

function sizeMismatch(ref: BlobRef, actual: string): CorruptError {
  const expected = ref.size > 0 ? ref.size : 'a non-empty changeset'
  return new CorruptError(
    `changeset ${ref.key} (seq ${ref.seq}) is ${actual} bytes but the manifest says ${expected}: the object is damaged; restore it, or push a good copy of the database`,
  )
}

/**
 * The replica's committed state diverged from the log (a changeset did not apply
 * cleanly). The replica is discarded and rebuilt from the snapshot.
 */
class DivergedError extends S3dbError {
  constructor(cause: unknown) {
    super('Corrupt', 'local replica diverged from the log', { cause })
  }
}

/** Rounds of catching up with a manifest that moved on during a sync. */
const CATCH_UP_ROUNDS = 3

/**
 * Brings the replica to the newest known manifest and returns that manifest with
 * its ETag: the exact state the replica now holds. Caller holds the writer lock.
 *
 * Views and compaction refresh the known manifest without that lock, so it may
 * move on while a sync is in flight: the sync then catches up again (a few
 * rounds). A commit must CAS against the returned state, never against a newer
 * one it did not run on, or it would overwrite the commits in between.
 *
 * A referenced object that vanished (GC after compaction) makes it re-read the
 * manifest and try again.
 */
export async function syncReplica(ctx: EngineContext, signal?: AbortSignal): Promise<RemoteState> {
  let target = ctx.remote
  for (let attempt = 0, round = 0; ; attempt++) {
    try {
      await syncOnce(ctx, target.manifest, signal)
    } catch (err) {
      if (err instanceof DivergedError) {
        const done = measure(ctx)
        await ctx.replica.invalidate()
        target = ctx.remote
        await syncOnce(ctx, target.manifest, signal)
        ctx.emit({
          type: 'rebuild',
          reason: `a changeset did not apply cleanly (${(err.cause as Error)?.message})`,
          ...done(),
        })
        return target
      }
      if (isS3dbError(err, 'NotFound') && attempt < 3) {
        // Compaction and GC may have replaced what our manifest referenced.
        const before = target.etag
        await reloadManifest(ctx, signal)
        target = ctx.remote
        if (target.etag !== before) continue
        // The current manifest itself points at an object that does not exist.
        throw new CorruptError(
          `the manifest references ${(err as NotFoundError).key}, which does not exist in the store; the database is damaged (restore the object or push a good copy)`,
          { cause: err },
        )
      }
      throw err
    }
    if (ctx.remote.etag === target.etag || ++round > CATCH_UP_ROUNDS) return target
    target = ctx.remote
  }
}

async function syncOnce(
  ctx: EngineContext,
  manifest: Manifest,
  signal: AbortSignal | undefined,
): Promise<void> {
  const pos = ctx.replica.position
  const head = headKey(manifest)
  if (pos && pos.seq === manifest.seq && sameHistory(manifest, pos)) return
  const done = measure(ctx)
  const fromSeq = pos?.seq ?? -1
  const tail = replicaTail(manifest, pos)
  if (tail) {
    const bytes = await fetchChangesets(ctx.store, tail, ctx.settings.fetchConcurrency, signal)
    const writer = ctx.replica.writer
    try {
      await ctx.replica.advance({ seq: manifest.seq, head }, () =>
        applyLog(writer, bytes, ctx.replica.capture),
      )
    } catch (err) {
      if (isS3dbError(err, 'ApplyConflict') || isS3dbError(err, 'Corrupt'))
        throw new DivergedError(err)
      throw err
    }
    if (tail.length > 0) ctx.foreignSeenAt = ctx.runtime.monotonic()
    ctx.emit({
      type: 'sync',
      fromSeq,
      toSeq: manifest.seq,
      changesets: tail.length,
      snapshot: false,
      ...done(),
    })
    return
  }
  const anomaly = pos && replacedHistory(manifest, pos)
  const file = await buildFromSnapshot(ctx.store, manifest, ctx.replica.dir, ctx, signal)
  try {
    await ctx.readLock.exclusive(() => ctx.replica.install(file, { seq: manifest.seq, head }))
  } catch (err) {
    await unlink(file).catch(() => {})
    throw err
  }
  const measured = done()
  if (anomaly) ctx.emit({ type: 'rebuild', reason: anomaly, ...measured })
  ctx.emit({
    type: 'sync',
    fromSeq,
    toSeq: manifest.seq,
    changesets: manifest.log.length,
    snapshot: true,
    ...measured,
  })
}

/** Whether the replica holds exactly the state of the newest known manifest. */
export function replicaIsCurrent(ctx: EngineContext): boolean {
  const pos = ctx.replica.position
  const manifest = ctx.remote.manifest
  return pos !== undefined && pos.seq === manifest.seq && sameHistory(manifest, pos)
}

/**
 * Whether the replica's state at `pos` is the state `manifest` describes at
 * `pos.seq`. Seq alone proves nothing (a Go push or migration replaces the
 * snapshot and keeps seq; a database can be re-created; a manifest restored):
 * the object that committed that seq must be the one the replica applied.
 */
export function sameHistory(manifest: Manifest, pos: { seq: number; head: string }): boolean {
  if (pos.seq === manifest.snapshot.seq && pos.head === manifest.snapshot.key) return true
  return keyAtSeq(manifest, pos.seq) === pos.head
}

/**
 * The log entries the replica still needs, or undefined when the log does not
 * reach back to it or does not continue its history (it must be rebuilt from
 * the snapshot).
 */
function replicaTail(
  manifest: Manifest,
  pos: { seq: number; head: string } | undefined,
): BlobRef[] | undefined {
  if (!pos || pos.seq < manifest.snapshot.seq || pos.seq > manifest.seq) return undefined
  if (!sameHistory(manifest, pos)) return undefined
  return manifest.log.slice(pos.seq - manifest.snapshot.seq)
}

/**
 * Why a replica that is not behind the snapshot cannot continue from it: the
 * database it holds is not the one in the store any more. Undefined for the
 * ordinary case (a compaction moved past the replica).
 */
function replacedHistory(
  manifest: Manifest,
  pos: { seq: number; head: string },
): string | undefined {
  if (pos.seq > manifest.seq) {
    return `the manifest went back from seq ${pos.seq} to ${manifest.seq} (an older manifest.json was restored, or the database was re-created); the replica was rebuilt from the store`
  }
  const proven = keyAtSeq(manifest, pos.seq)
  if (pos.seq < manifest.snapshot.seq && proven === undefined) return undefined
  if (proven === pos.head) return undefined
  return `the store's history at seq ${pos.seq} is not the one the replica applied (the snapshot was replaced by a push or migration of another client, or the database was re-created); the replica was rebuilt from the store`
}

/**
 * Downloads the snapshot and applies the whole log to it, in a temp file beside
 * the replica. The replica stays readable meanwhile.
 */
export async function buildFromSnapshot(
  store: BlobStore,
  manifest: Manifest,
  dir: string,
  ctx: { settings: TransferSettings; emit: EngineContext['emit']; runtime?: Runtime | undefined },
  signal?: AbortSignal,
): Promise<string> {
  const [download, fetched] = await Promise.allSettled([
    downloadSnapshot(store, manifest.snapshot, dir, {
      signal,
      minPartSize: ctx.settings.minRangeBytes,
      maxPartSize: ctx.settings.maxRangeBytes,
      concurrency: ctx.settings.fetchConcurrency,
      onProgress: ctx.emit,
      runtime: ctx.runtime,
    }),
    fetchChangesets(store, manifest.log, ctx.settings.fetchConcurrency, signal),
  ])
  // Both settle first: a failed fetch must not leave the download in `dir` (a pull's own folder).
  if (download.status === 'rejected' || fetched.status === 'rejected') {
    if (download.status === 'fulfilled') await unlink(download.value).catch(() => {})
    throw download.status === 'rejected'
      ? download.reason
      : (fetched as PromiseRejectedResult).reason
  }
  const file = download.value
  const changesets = fetched.value
  try {
    const db = new Database(file)
    try {
      assertSqlite(db, manifest.snapshot.key)
      if (changesets.length > 0) {
        db.pragma('journal_mode = WAL')
        applyLog(db, changesets)
      }
    } finally {
      db.close()
    }
    return file
  } catch (err) {
    await unlink(file).catch(() => {})
    await unlink(`${file}-wal`).catch(() => {})
    await unlink(`${file}-shm`).catch(() => {})
    // A log that does not apply to its own snapshot means the stored database is damaged.
    if (err instanceof S3dbError && err.code !== 'ApplyConflict') throw err
    throw new CorruptError(
      `snapshot ${manifest.snapshot.key} and its log do not form a valid database: ${(err as Error).message}`,
      { cause: err },
    )
  }
}

/** Proves the file opens as a database with a readable schema. */
function assertSqlite(db: Database.Database, key: string): void {
  try {
    db.prepare('SELECT count(*) FROM sqlite_schema').get()
  } catch (err) {
    throw new CorruptError(
      `snapshot ${key} is not a readable SQLite database: ${(err as Error).message}`,
      { cause: err },
    )
  }
}

/**
 * Applies committed changesets to a replica in one transaction, strictly: the
 * log holds every row each commit wrote, including rows its triggers and
 * foreign-key actions changed, so neither may fire again here (they would
 * double-apply), and any conflict means the replica diverged from the log.
 * Foreign-key enforcement is off and user triggers are set aside for the
 * duration of the transaction.
 */
function applyLog(
  db: Database.Database,
  changesets: readonly Uint8Array[],
  capture?: ChangeCapture,
): void {
  const fk = db.pragma('foreign_keys', { simple: true }) as number
  if (fk) db.pragma('foreign_keys = OFF')
  try {
    db.transaction(() => {
      withoutUserTriggers(db, () => {
        for (const cs of changesets) applyChangeset(db, cs, { capture })
      })
    })()
  } finally {
    if (fk) db.pragma('foreign_keys = ON')
  }
}

/**
 * Runs `fn` (inside the caller's transaction) with the database's own triggers
 * dropped, and re-creates them from their original SQL before returning, so the
 * committed schema is unchanged. SQLite has no per-connection switch for this
 * that better-sqlite3 exposes.
 */
function withoutUserTriggers(db: Database.Database, fn: () => void): void {
  const triggers = db
    .prepare("SELECT name, sql FROM main.sqlite_schema WHERE type = 'trigger' AND sql IS NOT NULL")
    .all() as { name: string; sql: string }[]
  for (const t of triggers) db.exec(`DROP TRIGGER main."${t.name.replaceAll('"', '""')}"`)
  fn()
  for (const t of triggers) db.exec(t.sql)
}
