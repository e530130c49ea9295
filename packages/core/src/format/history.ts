/**
 * The history objects (an extension of this implementation, FORMAT.md
 * "History"): the retention setting of a database and the fold records that
 * keep the order of its commits once a snapshot switch dropped them from the
 * manifest. Both live under `<prefix>history/`, which no s3db client's GC
 * deletes blindly (this one deletes only fold records it proved unneeded).
 *
 * @module
 */
import { CorruptError, InvalidArgumentError } from '../errors.js'
import { validateKey } from '../store/keys.js'
import type { DatabaseKeys, Manifest } from './manifest.js'

/** Largest history object read (a fold record holds at most one log: 8 MiB like the manifest). */
export const MAX_HISTORY_OBJECT_BYTES = 8 * 1024 * 1024

/** Key of the retention setting. */
export function retentionKey(keys: DatabaseKeys): string {
  return `${keys.prefix}history/retention.json`
}

/** Folder of all fold records. */
export function foldsDir(keys: DatabaseKeys): string {
  return `${keys.prefix}history/folds/`
}

/** Folder of the fold records of the snapshot `snapshotKey` (one per attempt to publish it). */
export function foldDirOf(keys: DatabaseKeys, snapshotKey: string): string {
  const base = snapshotKey.slice(snapshotKey.lastIndexOf('/') + 1).replace(/\.sqlite$/, '')
  return `${foldsDir(keys)}${base}/`
}

/** A new fold record key for `snapshotKey`. */
export function foldRecordKey(keys: DatabaseKeys, snapshotKey: string, id: string): string {
  return `${foldDirOf(keys, snapshotKey)}f-${id}.json`
}

const FOLD_RECORD_NAME = /^history\/folds\/snap-[^/]+\/f-[^/]+\.json$/

/** True for a key this implementation names as a fold record (the only history objects GC deletes). */
export function isFoldRecordKey(keys: DatabaseKeys, key: string): boolean {
  return key.startsWith(keys.prefix) && FOLD_RECORD_NAME.test(key.slice(keys.prefix.length))
}

/** One commit in the history. */
export interface HistoryEntry {
  seq: number
  /** Full store key of the changeset (or, for a snapshot commit, the snapshot). */
  key: string
  size: number
  /** Commit time, ms since the epoch; undefined when unknown (a Go writer dropped it). */
  time?: number | undefined
}

/** A snapshot in the history, with the schema the database had at its seq. */
export interface HistorySnapshot extends HistoryEntry {
  schemaVersion: number
  compatSchemaVersion?: number | undefined
}

/**
 * What one snapshot switch folded: the snapshot it replaced (`prev`), the
 * changesets that committed the seqs after `prev.seq` up to the new snapshot's
 * seq (or up to the seq before, when the switch was itself a commit), and the
 * new snapshot. Every entry is a fact about committed history (it comes from a
 * manifest read from the store), whether or not the switch itself won its CAS.
 */
export interface FoldRecord {
  snapshot: HistorySnapshot
  prev: HistorySnapshot
  entries: HistoryEntry[]
}

/** The record of `next` switching the snapshot of `base` (undefined: not a switch). */
export function foldRecordOf(base: Manifest, next: Manifest): FoldRecord | undefined {
  if (next.snapshot.key === base.snapshot.key) return undefined
  const entries = base.log
    .filter((e) => e.seq <= next.snapshot.seq)
    .map((e) => ({ seq: e.seq, key: e.key, size: e.size, time: e.time }))
  return {
    snapshot: {
      seq: next.snapshot.seq,
      key: next.snapshot.key,
      size: next.snapshot.size,
      time: next.snapshot.time,
      schemaVersion: next.schemaVersion,
      compatSchemaVersion: next.compatSchemaVersion,
    },
    prev: {
      seq: base.snapshot.seq,
      key: base.snapshot.key,
      size: base.snapshot.size,
      time: base.snapshot.time,
      schemaVersion: base.schemaVersion,
      compatSchemaVersion: base.compatSchemaVersion,
    },
    entries,
  }
}

function rel(keys: DatabaseKeys, key: string): string {
  return key.startsWith(keys.prefix) ? key.slice(keys.prefix.length) : key
}

/** The on-store form of a fold record (keys relative to the prefix). */
export function serializeFoldRecord(keys: DatabaseKeys, r: FoldRecord): Uint8Array {
  const snap = (s: HistorySnapshot) => ({
    key: rel(keys, s.key),
    seq: s.seq,
    size: s.size,
    ...(s.time === undefined ? {} : { time: s.time }),
    schema_version: s.schemaVersion,
    ...(s.compatSchemaVersion === undefined
      ? {}
      : { compat_schema_version: s.compatSchemaVersion }),
  })
  return new TextEncoder().encode(
    JSON.stringify({
      format_version: 1,
      snapshot: snap(r.snapshot),
      prev: snap(r.prev),
      entries: r.entries.map((e) => ({
        key: rel(keys, e.key),
        seq: e.seq,
        size: e.size,
        ...(e.time === undefined ? {} : { time: e.time }),
      })),
    }),
  )
}

function bad(key: string, why: string): CorruptError {
  return new CorruptError(`history record ${key} is invalid: ${why}`)
}

function int(v: unknown, name: string, key: string, optional = false): number | undefined {
  if (optional && (v === undefined || v === null)) return undefined
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0)
    throw bad(key, `${name} must be a non-negative integer`)
  return v
}

function refOf(
  v: unknown,
  name: string,
  key: string,
  keys: DatabaseKeys,
  kind: 'snapshot' | 'data',
): HistoryEntry {
  if (typeof v !== 'object' || v === null) throw bad(key, `${name} must be an object`)
  const o = v as Record<string, unknown>
  if (typeof o.key !== 'string' || o.key === '') throw bad(key, `${name}.key must be a string`)
  const full = keys.prefix + o.key
  try {
    validateKey(full)
  } catch (err) {
    throw bad(key, `${name}.key is not a valid key: ${(err as Error).message}`)
  }
  // Like a manifest, a record may name only this database's own objects.
  if (kind === 'snapshot' ? !keys.isSnapshot(full) : !keys.isDataObject(full))
    throw bad(key, `${name}.key is not one of this database's objects`)
  const entry: HistoryEntry = {
    key: full,
    seq: int(o.seq, `${name}.seq`, key)!,
    size: int(o.size ?? 0, `${name}.size`, key)!,
  }
  const time = int(o.time, `${name}.time`, key, true)
  if (time !== undefined && time > 0) entry.time = time
  return entry
}

function snapOf(v: unknown, name: string, key: string, keys: DatabaseKeys): HistorySnapshot {
  const ref = refOf(v, name, key, keys, 'snapshot')
  const o = v as Record<string, unknown>
  return {
    ...ref,
    schemaVersion: int(o.schema_version ?? 0, `${name}.schema_version`, key)!,
    compatSchemaVersion: int(o.compat_schema_version, `${name}.compat_schema_version`, key, true),
  }
}

/** Parses a fold record; throws Corrupt for anything malformed. */
export function parseFoldRecord(bytes: Uint8Array, key: string, keys: DatabaseKeys): FoldRecord {
  let raw: unknown
  try {
    raw = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes))
  } catch (err) {
    throw bad(key, `not JSON (${(err as Error).message})`)
  }
  if (typeof raw !== 'object' || raw === null) throw bad(key, 'not an object')
  const o = raw as Record<string, unknown>
  if ((int(o.format_version ?? 1, 'format_version', key) ?? 1) > 1)
    throw bad(key, `format_version ${String(o.format_version)} is newer than this s3db knows`)
  const snapshot = snapOf(o.snapshot, 'snapshot', key, keys)
  const prev = snapOf(o.prev, 'prev', key, keys)
  if (!Array.isArray(o.entries)) throw bad(key, 'entries must be an array')
  const entries = o.entries.map((e, i) => refOf(e, `entries[${i}]`, key, keys, 'data'))
  entries.forEach((e, i) => {
    if (e.seq !== prev.seq + 1 + i) throw bad(key, `entries[${i}].seq is not ${prev.seq + 1 + i}`)
  })
  const last = entries.at(-1)?.seq ?? prev.seq
  if (snapshot.seq < last || snapshot.seq > last + 1 || snapshot.seq < prev.seq)
    throw bad(key, `the snapshot's seq ${snapshot.seq} does not follow its entries`)
  return { snapshot, prev, entries }
}

/** The retention setting of a database. */
export interface Retention {
  /** How long every past state stays readable (ms); 0: only what the GC grace period keeps. */
  retainMs: number
}

/** Parses the retention object; a malformed one is Corrupt (GC must not guess). */
export function parseRetention(bytes: Uint8Array, key: string): Retention {
  let raw: unknown
  try {
    raw = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes))
  } catch (err) {
    throw bad(key, `not JSON (${(err as Error).message})`)
  }
  const v = (raw as Record<string, unknown> | null)?.retain_ms
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0)
    throw bad(key, 'retain_ms must be a non-negative integer')
  return { retainMs: v }
}

export function serializeRetention(r: Retention): Uint8Array {
  return new TextEncoder().encode(JSON.stringify({ retain_ms: r.retainMs }))
}

const UNITS: Record<string, number> = {
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
  w: 7 * 86_400_000,
}

/**
 * Parses a duration like `30s`, `5m`, `1h`, `7d`, `2w`, `250ms` or `0` (a
 * number is milliseconds). Throws InvalidArgumentError naming `what`.
 */
export function parseDurationMs(value: unknown, what: string): number {
  if (typeof value === 'number') {
    if (Number.isFinite(value) && value >= 0) return Math.round(value)
  } else if (typeof value === 'string') {
    const m = /^(\d+(?:\.\d+)?)(ms|s|m|h|d|w)?$/.exec(value.trim())
    if (m && (m[2] !== undefined || Number(m[1]) === 0))
      return Math.round(Number(m[1]) * UNITS[m[2] ?? 'ms']!)
  }
  throw new InvalidArgumentError(
    `invalid ${what} ${JSON.stringify(value) ?? String(value)}: use a duration like 30s, 5m, 1h, 7d or 0`,
  )
}
