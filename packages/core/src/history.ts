/**
 * History: the order of past commits (from the manifest and the fold records
 * of earlier snapshot switches), what time maps to which seq, and how to
 * rebuild the state of any seq that is still retained.
 *
 * @module
 */
import {
  DatabaseNotFoundError,
  HistoryUnavailableError,
  InvalidArgumentError,
  isS3dbError,
  type NotFoundError,
} from './errors.js'
import {
  type FoldRecord,
  foldDirOf,
  foldsDir,
  type HistoryEntry,
  type HistorySnapshot,
  MAX_HISTORY_OBJECT_BYTES,
  parseFoldRecord,
  parseRetention,
  type Retention,
  retentionKey,
  serializeRetention,
} from './format/history.js'
import type { DatabaseKeys, Manifest } from './format/manifest.js'
import type { BlobStore, ListEntry } from './store/blob-store.js'
import { type FetchedManifest, readManifest } from './sync.js'
import { forEachLimited } from './util/pool.js'

/** Which past state: a seq, or a point in time (the state current then). */
export type HistoryPoint = { seq: number } | { time: Date | number | string }

/** A stretch of history: a snapshot and the commits after it up to the next snapshot. */
export interface HistorySegment {
  snapshot: HistorySnapshot
  /** Changesets after `snapshot.seq`, in seq order. */
  entries: HistoryEntry[]
}

/** One commit of the history. */
export interface HistoryCommit {
  seq: number
  /** The changeset, or the snapshot for a snapshot commit (DDL, push, restore) and the oldest state. */
  key: string
  kind: 'changeset' | 'snapshot'
  size: number
  /** Recorded commit time (ms), when known. */
  time?: number | undefined
  /**
   * The time used for lookups: the recorded time, raised to be monotonic (a
   * writer's clock may lag another's) and, where unknown, the next known one.
   */
  effectiveTime: number
  schemaVersion: number
}

/** The retained history of a database. */
export interface History {
  manifest: Manifest
  etag: string
  fetched: FetchedManifest
  /** Oldest first; the last is the current manifest's snapshot and log. */
  segments: HistorySegment[]
  /** Every commit from the oldest retained state to the current one, in seq order. */
  commits: HistoryCommit[]
  /** Folders of the fold records the chain used (`history/folds/<snap>/`). */
  chainDirs: Set<string>
  /** All fold records listed (for GC). */
  records: ListEntry[]
}

/** Reads the retention setting (absent: 0, today's behaviour). */
export async function readRetention(
  store: BlobStore,
  keys: DatabaseKeys,
  signal?: AbortSignal,
): Promise<Retention> {
  const key = retentionKey(keys)
  try {
    const res = await store.get(key, { signal, maxBytes: 64 * 1024 })
    if (res.notModified) throw new Error('unexpected notModified')
    return parseRetention(res.body, key)
  } catch (err) {
    if (isS3dbError(err, 'NotFound')) return { retainMs: 0 }
    throw err
  }
}

/** Records the retention setting, unless it already says the same. Returns whether it wrote. */
export async function writeRetention(
  store: BlobStore,
  keys: DatabaseKeys,
  retention: Retention,
  signal?: AbortSignal,
): Promise<boolean> {
  const current = await readRetention(store, keys, signal).catch(() => undefined)
  if (current?.retainMs === retention.retainMs) return false
  await store.put(retentionKey(keys), serializeRetention(retention), {
    signal,
    contentType: 'application/json',
  })
  return true
}

async function readRecord(
  store: BlobStore,
  keys: DatabaseKeys,
  key: string,
  signal?: AbortSignal,
): Promise<FoldRecord | undefined> {
  try {
    const res = await store.get(key, { signal, maxBytes: MAX_HISTORY_OBJECT_BYTES })
    if (res.notModified) return undefined
    return parseFoldRecord(res.body, key, keys)
  } catch (err) {
    // A record GC removed meanwhile, or a damaged one: the chain ends there.
    if (isS3dbError(err, 'NotFound') || isS3dbError(err, 'Corrupt')) return undefined
    throw err
  }
}

/**
 * Reads the current manifest and walks the fold records back from its
 * snapshot: each record names the snapshot before and the changesets between.
 * The walk stops where no valid record continues it (history older than the
 * retention window, a switch made by a Go client, which writes no record).
 */
export async function readHistory(
  store: BlobStore,
  keys: DatabaseKeys,
  signal?: AbortSignal,
  fetched?: FetchedManifest,
): Promise<History> {
  const current =
    fetched ??
    (await readManifest(store, keys.manifest, keys.prefix, signal).catch((err: unknown) => {
      if (isS3dbError(err, 'NotFound') && (err as NotFoundError).key === keys.manifest)
        throw new DatabaseNotFoundError(keys.prefix, { cause: err })
      throw err
    }))
  const m = current.manifest
  const records: ListEntry[] = []
  const byDir = new Map<string, string[]>()
  const dir = foldsDir(keys)
  for await (const entry of store.list(dir, { signal })) {
    records.push(entry)
    const slash = entry.key.indexOf('/', dir.length)
    if (slash < 0) continue
    const d = entry.key.slice(0, slash + 1)
    byDir.set(d, [...(byDir.get(d) ?? []), entry.key])
  }
  const segments: HistorySegment[] = [
    {
      snapshot: {
        key: m.snapshot.key,
        seq: m.snapshot.seq,
        size: m.snapshot.size,
        time: m.snapshot.time,
        schemaVersion: m.schemaVersion,
        compatSchemaVersion: m.compatSchemaVersion,
      },
      entries: m.log.map((e) => ({ seq: e.seq, key: e.key, size: e.size, time: e.time })),
    },
  ]
  const chainDirs = new Set<string>([foldDirOf(keys, m.snapshot.key)])
  // The newest record of every folder, fetched in parallel: the walk below then
  // costs no round trip per switch (orphan folders cost a GET each, and GC
  // removes them after the grace period).
  const prefetched = new Map<string, Promise<FoldRecord | undefined>>()
  const fetchRecord = (key: string) => {
    let p = prefetched.get(key)
    if (!p) {
      p = readRecord(store, keys, key, signal)
      // Rejections are awaited by the walk; never unhandled meanwhile.
      p.catch(() => {})
      prefetched.set(key, p)
    }
    return p
  }
  await forEachLimited([...byDir.values()], 16, async (list) => {
    await fetchRecord([...list].sort().at(-1)!).catch(() => undefined)
  })
  for (;;) {
    const head = segments[0]!.snapshot
    const d = foldDirOf(keys, head.key)
    const candidates = [...(byDir.get(d) ?? [])].sort().reverse()
    let found: FoldRecord | undefined
    for (const key of candidates) {
      const r = await fetchRecord(key)
      if (
        r &&
        r.snapshot.key === head.key &&
        r.snapshot.seq === head.seq &&
        r.prev.seq < head.seq
      ) {
        found = r
        break
      }
    }
    if (!found) break
    chainDirs.add(d)
    if (head.time === undefined && found.snapshot.time !== undefined)
      head.time = found.snapshot.time
    segments.unshift({ snapshot: { ...found.prev }, entries: found.entries })
  }
  return {
    manifest: m,
    etag: current.etag,
    fetched: current,
    segments,
    commits: commitsOf(segments),
    chainDirs,
    records,
  }
}

function commitsOf(segments: HistorySegment[]): HistoryCommit[] {
  const out: Omit<HistoryCommit, 'effectiveTime'>[] = []
  segments.forEach((seg, i) => {
    const s = seg.snapshot
    const prevEnd =
      i === 0 ? undefined : (segments[i - 1]!.entries.at(-1)?.seq ?? segments[i - 1]!.snapshot.seq)
    // The oldest state, and every snapshot that committed a seq of its own.
    if (i === 0 || prevEnd === s.seq - 1)
      out.push({
        seq: s.seq,
        key: s.key,
        kind: 'snapshot',
        size: s.size,
        time: s.time,
        schemaVersion: s.schemaVersion,
      })
    for (const e of seg.entries)
      out.push({ ...e, kind: 'changeset', schemaVersion: s.schemaVersion })
  })
  // Unknown times take the next known one, then times rise monotonically:
  // both only ever make a state look newer (GC keeps more, never less).
  const eff: number[] = new Array(out.length)
  let next = Number.POSITIVE_INFINITY
  for (let i = out.length - 1; i >= 0; i--) {
    next = out[i]!.time ?? next
    eff[i] = next
  }
  let max = Number.NEGATIVE_INFINITY
  return out.map((c, i) => {
    max = Math.max(max, eff[i]!)
    return { ...c, effectiveTime: max }
  })
}

/** Parses a time given as a Date, ms since the epoch, or an ISO 8601 string. */
export function parseTime(value: Date | number | string): number {
  const ms =
    value instanceof Date
      ? value.getTime()
      : typeof value === 'number'
        ? value
        : /^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d+)?)?)?(Z|[+-]\d{2}:?\d{2})?$/i.test(
              value.trim(),
            )
          ? Date.parse(normaliseIso(value.trim()))
          : Number.NaN
  if (!Number.isFinite(ms))
    throw new InvalidArgumentError(
      `invalid time ${JSON.stringify(String(value))}: use an ISO 8601 time like 2026-12-06T10:00Z`,
    )
  return ms
}

/** `2026-12-06T10:00Z` is not accepted by every Date.parse: add the seconds. */
function normaliseIso(s: string): string {
  return s.replace(/T(\d{2}:\d{2})(Z|[+-]|$)/i, 'T$1:00$2')
}

/** Validates a {@link HistoryPoint} (InvalidArgument for anything else). */
export function checkPoint(at: unknown): HistoryPoint {
  if (typeof at === 'object' && at !== null) {
    const o = at as Record<string, unknown>
    if ('seq' in o && !('time' in o)) {
      if (typeof o.seq === 'number' && Number.isSafeInteger(o.seq) && o.seq >= 0)
        return { seq: o.seq }
      throw new InvalidArgumentError(`at.seq must be a non-negative integer, got ${String(o.seq)}`)
    }
    if ('time' in o && !('seq' in o)) {
      parseTime(o.time as string)
      return { time: o.time as string }
    }
  }
  throw new InvalidArgumentError('at must be { seq: number } or { time: Date | number | string }')
}

/** The seq `at` names in `h`; HistoryUnavailable when it is not retained. */
export function resolvePoint(h: History, at: HistoryPoint): number {
  const first = h.commits[0]!
  const last = h.commits.at(-1)!
  if ('seq' in at) {
    if (at.seq > last.seq)
      throw new InvalidArgumentError(
        `seq ${at.seq} is beyond the database's current seq ${last.seq}`,
      )
    if (at.seq < first.seq)
      throw new HistoryUnavailableError(
        `seq ${at.seq} is older than the oldest retained state (seq ${first.seq}); set a longer retention (history: { retain }) to keep more`,
      )
    return at.seq
  }
  const t = parseTime(at.time)
  if (t < first.effectiveTime && Number.isFinite(first.effectiveTime))
    throw new HistoryUnavailableError(
      `${new Date(t).toISOString()} is before the oldest retained state (seq ${first.seq}, ${new Date(first.effectiveTime).toISOString()})`,
    )
  // The last commit at or before t (binary search over monotonic times).
  let lo = 0
  let hi = h.commits.length - 1
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1
    if (h.commits[mid]!.effectiveTime <= t) lo = mid
    else hi = mid - 1
  }
  return h.commits[lo]!.seq
}

/** The commit at `seq`. */
export function commitAt(h: History, seq: number): HistoryCommit | undefined {
  const i = seq - h.commits[0]!.seq
  return h.commits[i]
}

/**
 * A manifest describing the state at `seq`: the newest retained snapshot at or
 * below it and the changesets after it (what `buildFromSnapshot` rebuilds).
 */
export function manifestAt(h: History, seq: number): Manifest {
  let seg: HistorySegment | undefined
  for (const s of h.segments) if (s.snapshot.seq <= seq) seg = s
  if (!seg) throw new HistoryUnavailableError(`seq ${seq} is older than the oldest retained state`)
  const log = seg.entries
    .filter((e) => e.seq <= seq)
    .map((e) => ({ key: e.key, seq: e.seq, size: e.size, time: e.time }))
  const snap = seg.snapshot
  return {
    formatVersion: 1,
    seq,
    schemaVersion: snap.schemaVersion,
    compatSchemaVersion: snap.compatSchemaVersion,
    snapshot: { key: snap.key, seq: snap.seq, size: snap.size, time: snap.time },
    log,
  }
}
