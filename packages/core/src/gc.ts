/**
 * Garbage collection: delete snapshots and changesets no manifest references,
 * once they have been unreachable longer than a grace period, so that a reader
 * still working from an older manifest finds what it needs.
 *
 * When did an object become unreachable? Only a snapshot switch (compaction, DDL
 * commit, push) drops objects, and the current switch happened before the
 * current manifest was written and before any changeset of the current epoch
 * (writers append under the epoch they saw). The earliest of those times bounds
 * every drop from above, so `now - max(bound, created) >= grace` is safe for
 * every unreferenced object, including orphans of lost or crashed commits.
 * Objects younger than ORPHAN_MIN_AGE_MS are never deleted, whatever the grace:
 * a writer may be about to publish them (see format/protocol.ts).
 *
 * @module
 */

import { foldDirOf, foldsDir, isFoldRecordKey } from './format/history.js'
import { type DatabaseKeys, epochOf, type Manifest } from './format/manifest.js'
import { ORPHAN_MIN_AGE_MS } from './format/protocol.js'
import { type History, readHistory, readRetention } from './history.js'
import type { BlobStore, ListEntry } from './store/blob-store.js'
import { readManifest, readManifestIfChanged } from './sync.js'

/** Options of {@link collectGarbage}. */
export interface GcOptions {
  /** Minimum time unreachable before deletion (ms). */
  gracePeriodMs: number
  /** List what would be deleted without deleting. */
  dryRun?: boolean | undefined
  signal?: AbortSignal | undefined
  /**
   * Never delete an unreferenced object younger than this (default
   * ORPHAN_MIN_AGE_MS, 2 minutes): a writer may be about to publish it. Lower it
   * only when no writer is running.
   */
  minAgeMs?: number | undefined
  /**
   * The local clock (ms since epoch), used only when the store does not report
   * its own time (S3 does, in every answer): then clocks of the machines sharing
   * the store must agree to within {@link ORPHAN_MIN_AGE_MS} minus the publish
   * window. Tests and the simulator pass their own.
   */
  now?: (() => number) | undefined
}

/** What {@link collectGarbage} found and did. */
export interface GcResult {
  /** Keys deleted (or, in a dry run, that would be). */
  deleted: string[]
  /** Unreachable keys kept because their grace period has not passed. */
  retained: string[]
  /** Bytes freed (or that would be). */
  bytes: number
  /**
   * The database's history retention (ms, 0: none) and the oldest seq whose
   * state GC kept rebuildable (undefined without retention).
   */
  history: { retainMs: number; oldestSeq: number | undefined }
}

export async function collectGarbage(
  store: BlobStore,
  keys: DatabaseKeys,
  options: GcOptions,
): Promise<GcResult> {
  const { signal } = options
  const localNow = options.now ?? Date.now
  const fetched = await readManifest(store, keys.manifest, keys.prefix, signal)
  const { manifest, lastModified, storeTime } = fetched
  const { retainMs } = await readRetention(store, keys, signal)
  // Ages are measured on the store's clock where it tells us (immune to local
  // skew), read before listing. HTTP dates are whole seconds (truncated): the
  // store's clock read within the second after it, at most 1 s late, which the
  // 2-minute floor for unreferenced objects absorbs.
  const storeNow = storeTime === undefined ? undefined : storeTime.getTime() + 999
  const now = () => storeNow ?? localNow()
  const reachable = new Set<string>([manifest.snapshot.key, ...manifest.log.map((e) => e.key)])
  const currentEpochDir = keys.epochDir(epochOf(manifest.snapshot.key))
  // History: everything needed to rebuild any seq that was current within the
  // retention window (plus the grace period, for readers of its oldest state).
  const history = retainMs > 0 ? await readHistory(store, keys, signal, fetched) : undefined
  const retained = history
    ? retainedByWindow(history, keys, now() - retainMs - options.gracePeriodMs)
    : undefined
  const records: ListEntry[] = []
  if (history) records.push(...history.records)
  else for await (const entry of store.list(foldsDir(keys), { signal })) records.push(entry)
  for (const key of retained?.keys ?? []) reachable.add(key)
  const keepDirs = retained?.dirs ?? new Set([foldDirOf(keys, manifest.snapshot.key)])

  const candidates: ListEntry[] = []
  let bound = lastModified?.getTime() ?? now()
  for (const dir of ['snapshots/', 'changesets/']) {
    for await (const entry of store.list(keys.prefix + dir, { signal })) {
      // Only objects s3db itself names are ever deleted; anything else is left alone.
      if (!keys.isDataObject(entry.key)) continue
      if (entry.key.startsWith(currentEpochDir) && reachable.has(entry.key) && entry.lastModified) {
        bound = Math.min(bound, entry.lastModified.getTime())
      }
      if (!reachable.has(entry.key)) candidates.push(entry)
    }
  }
  const deleted: ListEntry[] = []
  const kept: string[] = []
  const minAge = options.minAgeMs ?? ORPHAN_MIN_AGE_MS
  // Fold records outside the chain the window needs (older history, or
  // switches whose CAS never landed) go once older than the grace period.
  for (const entry of records) {
    if (!isFoldRecordKey(keys, entry.key)) continue
    const dir = entry.key.slice(0, entry.key.lastIndexOf('/') + 1)
    if (keepDirs.has(dir)) continue
    const created = entry.lastModified?.getTime() ?? Number.POSITIVE_INFINITY
    if (now() - created >= Math.max(options.gracePeriodMs, minAge)) deleted.push(entry)
    else kept.push(entry.key)
  }
  for (const entry of candidates) {
    // Without a creation time we cannot prove anything: keep it.
    const created = entry.lastModified?.getTime() ?? Number.POSITIVE_INFINITY
    if (now() - Math.max(bound, created) >= options.gracePeriodMs && now() - created >= minAge)
      deleted.push(entry)
    else kept.push(entry.key)
  }
  if (
    !options.dryRun &&
    deleted.length > 0 &&
    (await wentBack(store, keys, fetched, deleted, signal))
  ) {
    // An operator put back an older manifest.json while we listed: it may
    // reference what this run found unreachable. Delete nothing this time.
    kept.push(...deleted.map((e) => e.key))
    deleted.length = 0
  }
  if (!options.dryRun && deleted.length > 0) {
    // Fold records first: if the data deletes then fail half way, no record
    // is left pointing at objects already gone (a read stops at the chain's end).
    const records = deleted.filter((e) => isFoldRecordKey(keys, e.key)).map((e) => e.key)
    const data = deleted.filter((e) => !isFoldRecordKey(keys, e.key)).map((e) => e.key)
    if (records.length > 0) await store.deleteMany(records, { signal })
    if (data.length > 0) await store.deleteMany(data, { signal })
  }
  return {
    deleted: deleted.map((e) => e.key),
    retained: kept,
    bytes: deleted.reduce((n, e) => n + e.size, 0),
    history: { retainMs, oldestSeq: retained?.oldestSeq },
  }
}

/**
 * Reads the manifest again, just before deleting: true when it is no longer the
 * one the run started from and either went back in seq (a restored older
 * manifest.json, a re-created database) or references a key about to go.
 * Normal commits only move forward and never name an unreachable object.
 */
async function wentBack(
  store: BlobStore,
  keys: DatabaseKeys,
  started: { manifest: Manifest; etag: string },
  deleting: readonly ListEntry[],
  signal: AbortSignal | undefined,
): Promise<boolean> {
  const again = await readManifestIfChanged(store, keys.manifest, keys.prefix, started.etag, signal)
  if (!again) return false
  const now = again.manifest
  if (now.seq < started.manifest.seq) return true
  const named = new Set([now.snapshot.key, ...now.log.map((e) => e.key)])
  return deleting.some((e) => named.has(e.key))
}

/**
 * What the window from `since` needs: the state current at `since` (the last
 * commit at or before it) and every later one must stay rebuildable, so the
 * newest snapshot at or below that seq, every later snapshot and changeset,
 * and the fold records linking them are kept.
 */
function retainedByWindow(
  h: History,
  dbKeys: DatabaseKeys,
  since: number,
): { keys: Set<string>; dirs: Set<string>; oldestSeq: number } {
  let oldest = h.commits[0]!.seq
  for (const c of h.commits) if (c.effectiveTime <= since) oldest = c.seq
  let first = 0
  h.segments.forEach((seg, i) => {
    if (seg.snapshot.seq <= oldest) first = i
  })
  const keys = new Set<string>()
  const dirs = new Set<string>()
  h.segments.slice(first).forEach((seg, i) => {
    keys.add(seg.snapshot.key)
    for (const e of seg.entries) keys.add(e.key)
    // The record linking this segment to the one before it is kept when that one is.
    if (i > 0) dirs.add(foldDirOf(dbKeys, seg.snapshot.key))
  })
  dirs.add(foldDirOf(dbKeys, h.manifest.snapshot.key))
  return { keys, dirs, oldestSeq: h.segments[first]!.snapshot.seq }
}
