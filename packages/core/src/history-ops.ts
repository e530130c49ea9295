/**
 * The history operations: build a past state, restore it as a new commit,
 * branch a database into a new prefix, list the commit log.
 *
 * @module
 */
import { mkdtemp, rm, stat, unlink } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { decodeChangeset } from './changeset/index.js'
import { NO_ROWS_HASH, offerId } from './co-commit.js'
import { DEFAULT_TRANSFER_SETTINGS, type TransferSettings } from './context.js'
import {
  AlreadyExistsError,
  HistoryUnavailableError,
  InvalidArgumentError,
  isS3dbError,
  type NotFoundError,
  SchemaMismatchError,
  StoreUnavailableError,
  WriteConflictError,
} from './errors.js'
import type { ProgressEvent } from './events.js'
import {
  type BlobRef,
  DatabaseKeys,
  epochOf,
  headKey,
  type Manifest,
  nextSeq,
} from './format/manifest.js'
import { validateDatabasePrefix } from './format/prefix.js'
import {
  checkPoint,
  type History,
  type HistoryCommit,
  type HistoryPoint,
  manifestAt,
  readHistory,
  resolvePoint,
} from './history.js'
import { publishManifest } from './publish.js'
import { type Runtime, systemRuntime } from './runtime.js'
import { uploadSnapshot } from './snapshot-upload.js'
import { cleanCopyOfUserFile } from './sqlite-file.js'
import type { BlobStore, CallOptions } from './store/blob-store.js'
import { fileBody } from './store/body.js'
import { buildFromSnapshot, readManifest, storePublisher } from './sync.js'
import { forEachLimited } from './util/pool.js'

/** Options of the history operations. */
export interface HistoryOptions {
  signal?: AbortSignal | undefined
  onProgress?: ((event: ProgressEvent) => void) | undefined
  /** @internal Clock, randomness and ids (the deterministic simulator's). */
  runtime?: Runtime | undefined
}

/** A past state built into a local SQLite file. */
export interface BuiltState {
  file: string
  seq: number
  /** The object that committed `seq`. */
  head: string
  manifest: Manifest
  history: History
}

/**
 * Rebuilds the state at `at` into a new file in `dir`: the newest retained
 * snapshot at or below its seq, plus the changesets up to it. An object GC
 * removed meanwhile is HistoryUnavailable.
 */
export async function buildState(
  store: BlobStore,
  keys: DatabaseKeys,
  at: HistoryPoint,
  dir: string,
  options: HistoryOptions & { settings?: TransferSettings; history?: History } = {},
): Promise<BuiltState> {
  const point = checkPoint(at)
  const history = options.history ?? (await readHistory(store, keys, options.signal))
  const seq = resolvePoint(history, point)
  const manifest = manifestAt(history, seq)
  let file: string
  try {
    file = await buildFromSnapshot(
      store,
      manifest,
      dir,
      {
        settings: options.settings ?? DEFAULT_TRANSFER_SETTINGS,
        emit: (e) => {
          if (e.type === 'progress') options.onProgress?.(e)
        },
        runtime: options.runtime,
      },
      options.signal,
    )
  } catch (err) {
    if (isS3dbError(err, 'NotFound'))
      throw new HistoryUnavailableError(
        `the state at seq ${seq} can no longer be rebuilt: ${(err as NotFoundError).key} was deleted (it left the retention window, or a gc without the retention setting removed it)`,
        { cause: err },
      )
    throw err
  }
  return { file, seq, head: headOf(history, seq, manifest), manifest, history }
}

function headOf(h: History, seq: number, m: Manifest): string {
  const c = h.commits[seq - h.commits[0]!.seq]
  return c?.key ?? headKey(m)
}

/** What {@link restoreDatabase} did, or would do. */
export interface RestoreResult {
  /** False when the database already was at that state (nothing written). */
  restored: boolean
  /** The state restored. */
  fromSeq: number
  /** The seq of the restore commit (seq moves forward). */
  seq: number
  /** Commits whose changes the restore undid: `fromSeq + 1` to the seq before the restore. */
  discarded: { first: number; last: number; count: number }
  schemaVersion: { before: number; after: number }
  snapshotKey?: string | undefined
  bytes: number
}

/** Options of {@link restoreDatabase}. */
export interface RestoreOptions extends HistoryOptions {
  at: HistoryPoint
  /** Restore even when the past state has another schema version (default: refuse). */
  allowSchemaChange?: boolean | undefined
  /**
   * Refuse (WriteConflict) when the database moved past this seq before the
   * restore landed, instead of undoing those commits too.
   */
  expectedSeq?: number | undefined
}

/**
 * Publishes the state at `at` as a new snapshot commit (seq + 1): the restore
 * is an ordinary commit, which running processes sync to and which can itself
 * be undone. Goes through the one publishing path.
 */
export async function restoreDatabase(
  store: BlobStore,
  prefix: string,
  options: RestoreOptions,
): Promise<RestoreResult> {
  validateDatabasePrefix(prefix)
  const keys = new DatabaseKeys(prefix)
  const runtime = options.runtime ?? systemRuntime
  const dir = await mkdtemp(join(tmpdir(), 's3db-restore-'))
  /** Waiting markers left for writers (removed at the end). */
  const waiting: string[] = []
  try {
    const built = await buildState(store, keys, options.at, dir, options)
    const base = built.history
    const current = base.manifest
    const before = current.schemaVersion
    const after = built.manifest.schemaVersion
    const discarded = (m: Manifest) => ({
      first: built.seq + 1,
      last: m.seq,
      count: m.seq - built.seq,
    })
    if (built.seq === current.seq) {
      return {
        restored: false,
        fromSeq: built.seq,
        seq: current.seq,
        discarded: discarded(current),
        schemaVersion: { before, after },
        bytes: 0,
      }
    }
    if (before !== after && !options.allowSchemaChange)
      throw new SchemaMismatchError(
        `the state at seq ${built.seq} has schema version ${after}, the database ${before}: restoring it undoes migrations (apps that know version ${before} will run them again at their next open); ${current.seq - built.seq} commits would be undone. Pass allowSchemaChange (CLI: --yes) to restore anyway; nothing was written`,
      )
    if (options.expectedSeq !== undefined && current.seq !== options.expectedSeq)
      throw new WriteConflictError(0)
    const copy = await cleanCopyOfUserFile(built.file, dir)
    const size = (await stat(copy)).size
    nextSeq(current)
    const publisher = storePublisher(store, keys, runtime)
    for (let upload = 1; ; upload++) {
      const snapshotKey = keys.snapshot(runtime.newId())
      const replace = (m: Manifest): Manifest | undefined => {
        if (options.expectedSeq !== undefined && m.seq !== options.expectedSeq) return undefined
        // The history we restore from must still be the database's.
        if (m.seq < built.seq) return undefined
        const seq = nextSeq(m)
        return {
          ...m,
          seq,
          schemaVersion: after,
          compatSchemaVersion: built.manifest.compatSchemaVersion,
          snapshot: { key: snapshotKey, seq, size },
          log: [],
        }
      }
      const uploadedAt = runtime.monotonic()
      await uploadSnapshot(store, snapshotKey, copy, options)
      let fresh = upload === 1 ? { manifest: current, etag: base.etag } : await publisher.read()
      // A lost race is retried at once over the winner's manifest (publishManifest
      // returns it): waiting first would only let busy writers win again.
      for (let conflicts = 0; ; conflicts++) {
        const next = replace(fresh.manifest)
        if (!next) {
          await store.delete(snapshotKey).catch(() => {})
          throw new WriteConflictError(0)
        }
        const outcome = await publishManifest(publisher, {
          base: fresh,
          next,
          own: { key: snapshotKey, uploadedAt },
          signal: options.signal,
        })
        if (outcome.committed) {
          return {
            restored: true,
            fromSeq: built.seq,
            seq: outcome.seq,
            discarded: discarded({ ...next, seq: outcome.seq - 1 }),
            schemaVersion: { before, after },
            snapshotKey,
            bytes: size,
          }
        }
        if (outcome.reason !== 'conflict') break
        if (conflicts >= 1000) {
          await store.delete(snapshotKey).catch(() => {})
          throw new WriteConflictError(conflicts)
        }
        fresh = outcome.current
        // A writer committing back to back wins every race against a restore
        // (it never sees the restore's commits, so it never yields): leave a
        // waiting upload on the manifest we lost to, where writers look for
        // processes that keep losing to them (fair-share.ts), and they step aside.
        if (conflicts >= 1) {
          const marker = await markWaiting(store, keys, fresh.manifest, runtime)
          if (marker) waiting.push(marker)
        }
      }
      if (upload >= 3)
        throw new StoreUnavailableError(
          'restore: the snapshot upload kept outlasting the publish window (60 s between upload and publish); nothing was published, run restore again',
          { maybeApplied: false },
        )
    }
  } finally {
    if (waiting.length > 0) await store.deleteMany(waiting).catch(() => {})
    await rm(dir, { recursive: true, force: true })
  }
}

/**
 * Uploads a waiting marker (an empty `w` upload, co-commit.ts) on `manifest`;
 * its key, or undefined when the store refused it (only a hint).
 */
async function markWaiting(
  store: BlobStore,
  keys: DatabaseKeys,
  manifest: Manifest,
  runtime: Runtime,
): Promise<string | undefined> {
  const id = offerId(manifest, 'w', 1, NO_ROWS_HASH, runtime.newId())
  const key = keys.changeset(epochOf(manifest.snapshot.key), id)
  try {
    await store.put(key, new Uint8Array(0), { contentType: 'application/octet-stream' })
    return key
  } catch {
    return undefined
  }
}

/** What {@link branchDatabase} did. */
export interface BranchResult {
  /** The seq of the source state; the branch starts at the same seq. */
  seq: number
  /** Objects copied (one snapshot and the changesets after it). */
  objects: number
  /** Bytes the copies hold (stored again by S3; shared by hard links on the filesystem store). */
  bytes: number
  /** Whether the store copied server-side (false: through this process). */
  serverSide: boolean
}

/** Copies `from` to `to` inside the store, or through a temp file when it cannot. */
async function copyObject(
  store: BlobStore,
  from: string,
  to: string,
  dir: string,
  options: CallOptions,
): Promise<void> {
  if (store.copy) {
    await store.copy(from, to, options)
    return
  }
  const res = await store.getStream(from, options)
  if (res.notModified) throw new Error('unexpected notModified')
  const path = join(dir, `copy-${Math.random().toString(36).slice(2)}`)
  const { open } = await import('node:fs/promises')
  const handle = await open(path, 'wx', 0o600)
  try {
    for await (const chunk of res.body) await handle.write(chunk)
  } finally {
    await handle.close()
  }
  try {
    await store.put(to, await fileBody(path), options)
  } finally {
    await unlink(path).catch(() => {})
  }
}

/**
 * Creates a new database at `toPrefix` holding the state of `fromPrefix` at
 * `at` (default: now): its snapshot and changesets are copied (server-side
 * where the store can) under new keys of the new prefix, so nothing is shared
 * that the source's GC could delete. Refuses an existing database at
 * `toPrefix` (AlreadyExists) and prefixes that contain each other.
 */
export async function branchDatabase(
  store: BlobStore,
  fromPrefix: string,
  toPrefix: string,
  options: HistoryOptions & { at?: HistoryPoint | undefined } = {},
): Promise<BranchResult> {
  validateDatabasePrefix(fromPrefix)
  validateDatabasePrefix(toPrefix)
  if (fromPrefix.startsWith(toPrefix) || toPrefix.startsWith(fromPrefix))
    throw new InvalidArgumentError(
      `cannot branch ${fromPrefix} into ${toPrefix}: one prefix contains the other (a database must not live inside another's)`,
    )
  const runtime = options.runtime ?? systemRuntime
  const from = new DatabaseKeys(fromPrefix)
  const to = new DatabaseKeys(toPrefix)
  const { signal } = options
  try {
    await store.stat(to.manifest, { signal })
    throw new AlreadyExistsError(
      `a database already exists at ${toPrefix}; branch into a new prefix`,
    )
  } catch (err) {
    if (!isS3dbError(err, 'NotFound')) throw err
  }
  // The current state needs only the manifest; a past one the history.
  let seq: number
  let source: Manifest
  if (options.at) {
    const history = await readHistory(store, from, signal)
    seq = resolvePoint(history, checkPoint(options.at))
    source = manifestAt(history, seq)
  } else {
    source = (await readManifest(store, from.manifest, fromPrefix, signal)).manifest
    seq = source.seq
  }
  const snapshotKey = to.snapshot(runtime.newId())
  const epoch = epochOf(snapshotKey)
  const log: BlobRef[] = source.log.map((e) => ({
    key: to.changeset(epoch, runtime.newId()),
    seq: e.seq,
    size: e.size,
    time: e.time,
  }))
  const dir = await mkdtemp(join(tmpdir(), 's3db-branch-'))
  const total = source.snapshot.size + source.log.reduce((n, e) => n + e.size, 0)
  let done = 0
  const progress = (bytes: number) => {
    done += bytes
    options.onProgress?.({
      type: 'progress',
      operation: 'branch-copy',
      key: toPrefix,
      bytesDone: done,
      bytesTotal: total,
    })
  }
  try {
    // Changesets first, the snapshot last: the publish window counts from the
    // snapshot's copy (GC cannot run at a prefix that has no manifest yet).
    try {
      await forEachLimited(source.log, 16, async (e, i) => {
        await copyObject(store, e.key, log[i]!.key, dir, { signal })
        progress(e.size)
      })
      const uploadedAt = runtime.monotonic()
      await copyObject(store, source.snapshot.key, snapshotKey, dir, { signal })
      progress(source.snapshot.size)
      const manifest: Manifest = {
        formatVersion: 1,
        seq,
        schemaVersion: source.schemaVersion,
        compatSchemaVersion: source.compatSchemaVersion,
        snapshot: {
          key: snapshotKey,
          seq: source.snapshot.seq,
          size: source.snapshot.size,
          time: source.snapshot.time,
        },
        log,
      }
      const outcome = await publishManifest(storePublisher(store, to, runtime), {
        base: undefined,
        next: manifest,
        own: { key: snapshotKey, uploadedAt },
        signal,
      })
      if (!outcome.committed)
        throw new AlreadyExistsError(
          `a database was created at ${toPrefix} while the branch was copied; nothing was overwritten`,
        )
    } catch (err) {
      if (isS3dbError(err, 'NotFound'))
        throw new HistoryUnavailableError(
          `the state at seq ${seq} can no longer be copied: ${(err as NotFoundError).key} was deleted meanwhile`,
          { cause: err },
        )
      throw err
    }
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
  return { seq, objects: log.length + 1, bytes: total, serverSide: store.copy !== undefined }
}

/** Rows a commit changed in one table. */
export interface TableCounts {
  inserts: number
  updates: number
  deletes: number
}

/** One line of {@link historyLog}. */
export interface LogEntry {
  seq: number
  /** Commit time (ms since the epoch), when recorded. */
  time: number | undefined
  size: number
  kind: 'changeset' | 'snapshot'
  key: string
  schemaVersion: number
  /** Per table, for changesets whose changes were read (`changes: true`). */
  tables?: Record<string, TableCounts> | undefined
}

/**
 * The retained commits, newest first (at most `limit`, default 50), each with
 * per-table row counts when `changes` is set (one GET per changeset).
 */
export async function historyLog(
  store: BlobStore,
  prefix: string,
  options: HistoryOptions & { limit?: number | undefined; changes?: boolean | undefined } = {},
): Promise<{ entries: LogEntry[]; oldestSeq: number; seq: number }> {
  validateDatabasePrefix(prefix)
  const keys = new DatabaseKeys(prefix)
  const limit = options.limit ?? 50
  if (!Number.isSafeInteger(limit) || limit <= 0)
    throw new InvalidArgumentError('limit must be a positive integer')
  const h = await readHistory(store, keys, options.signal)
  const picked = h.commits.slice(-limit).reverse()
  const entries: LogEntry[] = picked.map((c: HistoryCommit) => ({
    seq: c.seq,
    time: c.time,
    size: c.size,
    kind: c.kind,
    key: c.key,
    schemaVersion: c.schemaVersion,
  }))
  if (options.changes) {
    await forEachLimited(entries, 16, async (e) => {
      if (e.kind !== 'changeset') return
      try {
        const res = await store.get(e.key, { signal: options.signal })
        if (res.notModified) return
        const tables: Record<string, TableCounts> = {}
        for (const t of decodeChangeset(res.body).tables) {
          const c = tables[t.name] ?? { inserts: 0, updates: 0, deletes: 0 }
          tables[t.name] = c
          for (const ch of t.changes) {
            if (ch.op === 'INSERT') c.inserts++
            else if (ch.op === 'UPDATE') c.updates++
            else c.deletes++
          }
        }
        e.tables = tables
      } catch (err) {
        // Removed by GC since the listing: shown without counts.
        if (!isS3dbError(err, 'NotFound')) throw err
      }
    })
  }
  return { entries, oldestSeq: h.commits[0]!.seq, seq: h.manifest.seq }
}
