/**
 * manifest.json: parsing with full validation, serialisation, and the key layout
 * of FORMAT.md. The manifest is the only object ever overwritten (by CAS).
 *
 * @module
 */
import { CorruptError, S3dbError } from '../errors.js'
import { validateKey } from '../store/keys.js'

/** Highest manifest format this client understands. */
export const FORMAT_VERSION = 1

/** Largest manifest we accept: a runaway or hostile object must not exhaust memory. */
export const MAX_MANIFEST_BYTES = 64 * 1024 * 1024

/** A reference to an immutable object (snapshot or changeset). */
export interface BlobRef {
  /** Full store key (includes the database prefix). */
  key: string
  seq: number
  /** Byte length; 0 when unknown. */
  size: number
  /** Snapshots only: the history this snapshot folded (see {@link FoldedHistory}). */
  folded?: FoldedHistory | undefined
}

/**
 * s3db-ts extension (optional field `snapshot.folded`, tolerated and dropped by
 * the Go client): the objects whose commits a snapshot switch folded away,
 * `keys[i]` committed at seq `firstSeq + i`, the last at the new snapshot's
 * seq or just below it. It keeps two facts provable after a compaction: that a
 * commit whose answer was lost did land (no double apply, fewer
 * CommitIndeterminate), and that a replica standing exactly at the fold point
 * holds the snapshot's state (no rebuild). Absent means "unknown", never "no".
 */
export interface FoldedHistory {
  firstSeq: number
  /** Full store keys. */
  keys: string[]
}

/** Most folded keys recorded: bounds the manifest's size (autoCompact defaults to 200). */
export const MAX_FOLDED_KEYS = 1000

/** The parsed manifest. */
export interface Manifest {
  formatVersion: number
  seq: number
  schemaVersion: number
  /**
   * s3db-ts extension (optional field `compat_schema_version`): the lowest schema
   * version an app must know to use this database. Additive migrations leave it
   * alone, so apps one migration behind keep working during a rolling deploy.
   * Absent means "equal to schemaVersion".
   */
  compatSchemaVersion?: number | undefined
  snapshot: BlobRef
  log: BlobRef[]
}

/** The database was written by a newer s3db format than this client understands. */
export class FormatTooNewError extends S3dbError {
  readonly formatVersion: number
  constructor(formatVersion: number) {
    super(
      'FormatTooNew',
      `the database uses manifest format_version ${formatVersion}, newer than the ${FORMAT_VERSION} this s3db understands; upgrade @s3db/core (nothing was written)`,
    )
    this.formatVersion = formatVersion
  }
}

/** Store keys of one database, all under its prefix. */
export class DatabaseKeys {
  readonly prefix: string
  readonly manifest: string
  constructor(prefix: string) {
    this.prefix = prefix
    this.manifest = `${prefix}manifest.json`
  }

  snapshot(id: string): string {
    return `${this.prefix}snapshots/snap-${id}.sqlite`
  }

  changeset(epoch: string, id: string): string {
    return `${this.prefix}changesets/${epoch}/cs-${id}.bin`
  }

  /** Folder of one epoch's changesets. */
  epochDir(epoch: string): string {
    return `${this.prefix}changesets/${epoch}/`
  }

  /**
   * True for a key named the way s3db names snapshots and changesets: the only
   * objects GC may delete (anything else under the prefix is left alone).
   */
  isDataObject(key: string): boolean {
    if (!key.startsWith(this.prefix)) return false
    const rel = key.slice(this.prefix.length)
    return SNAPSHOT_NAME.test(rel) || CHANGESET_NAME.test(rel)
  }
}

const SNAPSHOT_NAME = /^snapshots\/snap-[^/]+\.sqlite$/
const CHANGESET_NAME = /^changesets\/[^/]+\/cs-[^/]+\.bin$/

/** The epoch of a snapshot key: its basename without extension. */
export function epochOf(snapshotKey: string): string {
  const base = snapshotKey.slice(snapshotKey.lastIndexOf('/') + 1)
  const dot = base.lastIndexOf('.')
  return dot > 0 ? base.slice(0, dot) : base
}

/** The key of the object that materialises `manifest.seq` (last log entry, else snapshot). */
export function headKey(manifest: Manifest): string {
  return manifest.log.at(-1)?.key ?? manifest.snapshot.key
}

function corrupt(key: string, why: string): CorruptError {
  return new CorruptError(
    `manifest ${key} is invalid: ${why}; the database cannot be used until it is repaired`,
  )
}

function seqField(value: unknown, name: string, key: string): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) {
    throw corrupt(key, `${name} must be a non-negative integer, got ${JSON.stringify(value)}`)
  }
  return value
}

function refField(value: unknown, name: string, key: string, prefix: string): BlobRef {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw corrupt(key, `${name} must be an object`)
  }
  const v = value as Record<string, unknown>
  if (typeof v.key !== 'string' || v.key === '')
    throw corrupt(key, `${name}.key must be a non-empty string`)
  // Every referenced object must live under this database's prefix: never read
  // (or later delete) anything outside it, whatever the manifest says.
  if (!v.key.startsWith(prefix) || v.key.includes('..')) {
    throw corrupt(
      key,
      `${name}.key ${JSON.stringify(v.key)} is outside the database prefix ${JSON.stringify(prefix)}`,
    )
  }
  // The stores' own key rules (no NUL, backslash or empty segment, length): a key
  // they would refuse later is damage in the manifest, reported as such now.
  try {
    validateKey(v.key)
  } catch (err) {
    throw corrupt(key, `${name}.key is not a valid object key: ${(err as Error).message}`)
  }
  const size = v.size === undefined || v.size === null ? 0 : seqField(v.size, `${name}.size`, key)
  return { key: v.key, seq: seqField(v.seq, `${name}.seq`, key), size }
}

/**
 * Parses `snapshot.folded`. Only an optimisation rests on it, so anything
 * malformed is dropped (treated as unknown) rather than refused.
 */
function foldedField(value: unknown, snapshot: BlobRef, prefix: string): FoldedHistory | undefined {
  if (typeof value !== 'object' || value === null) return undefined
  const v = value as Record<string, unknown>
  const firstSeq = v.first_seq
  if (typeof firstSeq !== 'number' || !Number.isSafeInteger(firstSeq) || firstSeq < 0)
    return undefined
  if (!Array.isArray(v.keys) || v.keys.length > MAX_FOLDED_KEYS) return undefined
  if (firstSeq + v.keys.length - 1 > snapshot.seq) return undefined
  const keys: string[] = []
  for (const k of v.keys) {
    if (typeof k !== 'string' || k === '' || k.includes('..')) return undefined
    try {
      validateKey(prefix + k)
    } catch {
      return undefined
    }
    keys.push(prefix + k)
  }
  return { firstSeq, keys }
}

/**
 * Parses and validates manifest bytes (FORMAT.md invariants). Throws
 * {@link FormatTooNewError} for a newer format and `CorruptError` otherwise.
 */
export function parseManifest(bytes: Uint8Array, key: string, prefix: string): Manifest {
  if (bytes.byteLength > MAX_MANIFEST_BYTES)
    throw corrupt(key, `it is larger than ${MAX_MANIFEST_BYTES} bytes`)
  let raw: unknown
  try {
    raw = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes))
  } catch (err) {
    throw corrupt(key, `not JSON (${(err as Error).message})`)
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw))
    throw corrupt(key, 'not a JSON object')
  const m = raw as Record<string, unknown>
  const formatVersion =
    m.format_version === undefined || m.format_version === null || m.format_version === 0
      ? 1
      : seqField(m.format_version, 'format_version', key)
  if (formatVersion > FORMAT_VERSION) throw new FormatTooNewError(formatVersion)
  const seq = seqField(m.seq, 'seq', key)
  const schemaVersion = seqField(m.schema_version ?? 0, 'schema_version', key)
  const compatSchemaVersion =
    m.compat_schema_version === undefined || m.compat_schema_version === null
      ? undefined
      : seqField(m.compat_schema_version, 'compat_schema_version', key)
  const snapshot = refField(m.snapshot, 'snapshot', key, prefix)
  const folded = foldedField((m.snapshot as Record<string, unknown>).folded, snapshot, prefix)
  if (folded) snapshot.folded = folded
  // The Go client writes a nil log as null.
  if (m.log !== undefined && m.log !== null && !Array.isArray(m.log))
    throw corrupt(key, 'log must be an array')
  const log = ((m.log as unknown[] | null | undefined) ?? []).map((e, i) =>
    refField(e, `log[${i}]`, key, prefix),
  )
  log.forEach((e, i) => {
    if (e.seq !== snapshot.seq + 1 + i) {
      throw corrupt(
        key,
        `log[${i}].seq is ${e.seq}, expected ${snapshot.seq + 1 + i} (gap or out of order)`,
      )
    }
  })
  const expected = log.at(-1)?.seq ?? snapshot.seq
  if (seq !== expected)
    throw corrupt(key, `seq is ${seq} but the snapshot and log end at ${expected}`)
  if (compatSchemaVersion !== undefined && compatSchemaVersion > schemaVersion) {
    throw corrupt(
      key,
      `compat_schema_version ${compatSchemaVersion} exceeds schema_version ${schemaVersion}`,
    )
  }
  return { formatVersion, seq, schemaVersion, compatSchemaVersion, snapshot, log }
}

/** Serialises a manifest in the shared on-store form. */
export function serializeManifest(m: Manifest): Uint8Array {
  const ref = (r: BlobRef) =>
    r.size > 0 ? { key: r.key, seq: r.seq, size: r.size } : { key: r.key, seq: r.seq }
  const out: Record<string, unknown> = {
    format_version: FORMAT_VERSION,
    seq: m.seq,
    schema_version: m.schemaVersion,
  }
  if (m.compatSchemaVersion !== undefined && m.compatSchemaVersion !== m.schemaVersion) {
    out.compat_schema_version = m.compatSchemaVersion
  }
  const folded = m.snapshot.folded
  out.snapshot = folded
    ? {
        ...ref(m.snapshot),
        folded: {
          first_seq: folded.firstSeq,
          keys: folded.keys.map((k) => k.slice(k.startsWith(prefixOf(m)) ? prefixOf(m).length : 0)),
        },
      }
    : ref(m.snapshot)
  out.log = m.log.map(ref)
  return new TextEncoder().encode(JSON.stringify(out))
}

/** The database prefix, from the snapshot key (`<prefix>snapshots/...`). */
function prefixOf(m: Manifest): string {
  return m.snapshot.key.slice(0, m.snapshot.key.lastIndexOf('snapshots/'))
}

/**
 * Which object committed `seq` according to `m`: a log entry, an entry of the
 * snapshot's folded history, or the snapshot itself when that history shows it
 * was a snapshot commit (DDL, push). Undefined when `m` no longer says.
 */
export function keyAtSeq(m: Manifest, seq: number): string | undefined {
  if (seq > m.seq) return undefined
  if (seq > m.snapshot.seq) return m.log[seq - m.snapshot.seq - 1]?.key
  const folded = m.snapshot.folded
  if (!folded) return undefined
  if (seq >= folded.firstSeq && seq < folded.firstSeq + folded.keys.length)
    return folded.keys[seq - folded.firstSeq]
  return seq === m.snapshot.seq ? m.snapshot.key : undefined
}

/**
 * `next` (a manifest that switches the snapshot of `base`) with the history it
 * folds recorded in `next.snapshot.folded`: who committed base's snapshot seq
 * (when known) and the log entries `next` no longer lists, in seq order.
 */
export function withFoldedHistory(base: Manifest, next: Manifest): Manifest {
  if (next.snapshot.key === base.snapshot.key) return next
  const kept = new Set(next.log.map((e) => e.key))
  const first = keyAtSeq(base, base.snapshot.seq)
  const keys = first === undefined ? [] : [first]
  for (const e of base.log) {
    if (kept.has(e.key) || e.seq > next.snapshot.seq) break
    keys.push(e.key)
  }
  const firstSeq = base.snapshot.seq + (first === undefined ? 1 : 0)
  const start = Math.max(0, keys.length - MAX_FOLDED_KEYS)
  const folded = { firstSeq: firstSeq + start, keys: keys.slice(start) }
  return { ...next, snapshot: { ...next.snapshot, folded } }
}

/**
 * The seq after `m`'s. Throws (nothing is written) when it would not be a safe
 * integer: a seq no client can read back would make the database unusable.
 */
export function nextSeq(m: Manifest): number {
  const seq = m.seq + 1
  if (!Number.isSafeInteger(seq)) {
    throw new CorruptError(
      `the database's seq ${m.seq} cannot grow any further (the next would exceed 2^53 - 1); nothing was written. The manifest was probably tampered with: restore it or push a good copy`,
    )
  }
  return seq
}

/** A manifest with the changeset `key` appended to its log (seq + 1). */
export function appendLog(m: Manifest, key: string, size: number): Manifest {
  const seq = nextSeq(m)
  return { ...m, seq, log: [...m.log, { key, seq, size }] }
}
