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

/**
 * Largest manifest read or written. A hostile manifest costs up to ~25 times
 * its size in heap while JSON.parse builds it (64 MiB of `{},` took 1.4 GB and
 * 10 s), so the cap bounds memory; 8 MiB still holds ~60,000 log entries (with commit times), far
 * more than any database that is ever compacted (docs/DESIGN-NOTES.md).
 */
export const MAX_MANIFEST_BYTES = 8 * 1024 * 1024

/**
 * Largest object size a manifest may claim: SQLite's own limit (4294967294
 * pages of 64 KiB is just under 2^48 bytes). A larger claim is damage, refused
 * before anything is planned or allocated for it.
 */
export const MAX_OBJECT_BYTES = 2 ** 48

/** A reference to an immutable object (snapshot or changeset). */
export interface BlobRef {
  /** Full store key (includes the database prefix). */
  key: string
  seq: number
  /** Byte length; 0 when unknown. */
  size: number
  /** Snapshots only: the history this snapshot folded (see {@link FoldedHistory}). */
  folded?: FoldedHistory | undefined
  /**
   * s3db-ts extension (optional field `time`, dropped by the Go client): when
   * the commit that this object made landed (ms since the epoch, the writer's
   * runtime clock at its compare-and-swap). On a snapshot, the commit time of
   * `seq` when the snapshot switch was itself a commit (DDL, push, restore) or
   * carried over from the folded entry (compaction). Absent means unknown.
   */
  time?: number | undefined
  /**
   * s3db-ts extension (optional field `data`, base64, dropped by the Go
   * client): the changeset's bytes, on the newest log entries when at most
   * MAX_INLINE_BYTES each and MAX_INLINE_TOTAL in all. A reader that learns of
   * the commit from the manifest applies it without fetching the object, which
   * still exists (it is the commit; other clients read it).
   */
  data?: Uint8Array | undefined
}

/** Largest changeset a log entry carries inline (`data`). */
export const MAX_INLINE_BYTES = 4096
/**
 * Inline bytes a manifest carries in all: the newest entries keep theirs
 * while the sum stays within it. A reader one or two commits behind (a
 * co-commit follower whose leader's commit was followed at once by another)
 * then applies them without a GET each.
 */
export const MAX_INLINE_TOTAL = 4 * MAX_INLINE_BYTES

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

/**
 * s3db-ts extension (optional field `carried`, tolerated and dropped by the Go
 * client): for each of the latest commits that advanced seq, written by an
 * s3db-ts writer, the offers of other processes its changeset carries
 * (co-commit, see co-commit.ts). Every such commit records itself, with no keys
 * when it carried none, so the record of a seq proves whether the commit at
 * that seq carried an offer, both ways. Absent means "unknown", never "no".
 */
export interface CarriedRecord {
  seq: number
  /**
   * Ids of the offers carried: the `<id>` of `changesets/<epoch>/cs-<id>.bin`
   * (unique per object, so the epoch and prefix need not be repeated).
   */
  ids: string[]
}

/** The id of a changeset key (`...cs-<id>.bin`), or undefined for another key. */
export function changesetId(key: string): string | undefined {
  return /\/cs-([^/]+)\.bin$/.exec(key)?.[1]
}

/** Longest carried id (and so offer id, co-commit.ts), in characters. */
export const MAX_CARRIED_ID = 200
/** A carried offer id: what offer keys produce (ASCII letters, digits, `-`). */
const CARRIED_ID = new RegExp(`^[A-Za-z0-9-]{1,${MAX_CARRIED_ID}}$`)

/**
 * The bytes a small offer's key may carry after its ULID (`-d<Crockford base
 * 32>`, co-commit.ts); group 1 is the id without them, group 2 the bytes.
 */
export const OFFER_INLINE_BYTES =
  /^(.*-[ow][0-9a-z]{2}[0-9a-f]{8}[0-9A-HJKMNP-TV-Z]{26})-d([0-9A-HJKMNP-TV-Z]+)$/

/** Most carried records kept (the latest commits'). */
export const MAX_CARRIED_RECORDS = 32
/** Most offers one commit carries. */
export const MAX_CARRIED_KEYS = 64

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
  /** See {@link CarriedRecord}: ascending seq, each at most `seq`. */
  carried?: CarriedRecord[] | undefined
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

/** A manifest would be larger than {@link MAX_MANIFEST_BYTES}, which no client could read back. */
export class ManifestTooLargeError extends S3dbError {
  readonly bytes: number
  constructor(bytes: number, logLength: number) {
    super(
      'ManifestTooLarge',
      `the manifest would be ${bytes} bytes (${logLength} log entries), over the ${MAX_MANIFEST_BYTES} bytes clients read, so it was not written; compact the database (db.compact() or \`s3db compact\`) and retry`,
    )
    this.bytes = bytes
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
   * True for a key in this database's own snapshot namespace (FORMAT.md):
   * `<prefix>snapshots/snap-<id>.sqlite`, directly under the prefix. A key of a
   * database nested under this prefix never matches (it has more segments).
   */
  isSnapshot(key: string): boolean {
    return key.startsWith(this.prefix) && SNAPSHOT_NAME.test(key.slice(this.prefix.length))
  }

  /** True for `<prefix>changesets/<epoch>/cs-<id>.bin`, directly under the prefix. */
  isChangeset(key: string): boolean {
    return key.startsWith(this.prefix) && CHANGESET_NAME.test(key.slice(this.prefix.length))
  }

  /**
   * True for a key named the way s3db names snapshots and changesets: the only
   * objects GC may delete (anything else under the prefix is left alone), and
   * the only objects a manifest may reference.
   */
  isDataObject(key: string): boolean {
    return this.isSnapshot(key) || this.isChangeset(key)
  }
}

// One segment per name part, so a nested database's keys (more segments) never match.
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

/** The current manifest names an object the store does not have: the database is damaged. */
export function referencedObjectMissing(key: string, cause?: unknown): CorruptError {
  return new CorruptError(
    `the manifest references ${key}, which does not exist in the store; the database is damaged (restore the object or push a good copy)`,
    { cause },
  )
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

function refField(
  value: unknown,
  name: string,
  key: string,
  keys: DatabaseKeys,
  kind: 'snapshot' | 'changeset',
): BlobRef {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw corrupt(key, `${name} must be an object`)
  }
  const v = value as Record<string, unknown>
  if (typeof v.key !== 'string' || v.key === '')
    throw corrupt(key, `${name}.key must be a non-empty string`)
  // The stores' own key rules (no NUL, backslash, empty or dot segment, length):
  // a key they would refuse later is damage in the manifest, reported as such now.
  try {
    validateKey(v.key)
  } catch (err) {
    throw corrupt(key, `${name}.key is not a valid object key: ${(err as Error).message}`)
  }
  // Every referenced object must be this database's own: never read (or later
  // delete around) a user's file under the prefix, a nested database's objects,
  // or anything outside the prefix, whatever the manifest says. The same rule
  // decides what GC may delete.
  if (kind === 'snapshot' ? !keys.isSnapshot(v.key) : !keys.isChangeset(v.key)) {
    const expected =
      kind === 'snapshot'
        ? `${keys.prefix}snapshots/snap-<id>.sqlite`
        : `${keys.prefix}changesets/<epoch>/cs-<id>.bin`
    throw corrupt(
      key,
      `${name}.key ${JSON.stringify(excerpt(v.key))} is not one of this database's ${kind} keys (${expected})`,
    )
  }
  const size = v.size === undefined || v.size === null ? 0 : seqField(v.size, `${name}.size`, key)
  if (size > MAX_OBJECT_BYTES) {
    throw corrupt(key, `${name}.size ${size} is larger than any SQLite database can be`)
  }
  const ref: BlobRef = { key: v.key, seq: seqField(v.seq, `${name}.seq`, key), size }
  // Only history lookups rest on it: a malformed time is ignored, never refused.
  if (typeof v.time === 'number' && Number.isSafeInteger(v.time) && v.time > 0) ref.time = v.time
  if (kind === 'changeset') {
    const data = inlineData(v.data, size)
    if (data) ref.data = data
  }
  return ref
}

/** A key shortened for an error message (a hostile manifest's bytes stay out of logs). */
function excerpt(text: string): string {
  return text.length > 200 ? `${text.slice(0, 200)}...` : text
}

/**
 * Parses `snapshot.folded`. Only an optimisation rests on it, so anything
 * malformed is dropped (treated as unknown) rather than refused.
 */
function foldedField(
  value: unknown,
  snapshot: BlobRef,
  keys: DatabaseKeys,
): FoldedHistory | undefined {
  if (typeof value !== 'object' || value === null) return undefined
  const v = value as Record<string, unknown>
  const firstSeq = v.first_seq
  if (typeof firstSeq !== 'number' || !Number.isSafeInteger(firstSeq) || firstSeq < 0)
    return undefined
  if (!Array.isArray(v.keys) || v.keys.length > MAX_FOLDED_KEYS) return undefined
  if (firstSeq + v.keys.length - 1 > snapshot.seq) return undefined
  const folded: string[] = []
  for (const k of v.keys) {
    if (typeof k !== 'string' || k === '' || k.includes('..')) return undefined
    try {
      validateKey(keys.prefix + k)
    } catch {
      return undefined
    }
    // Only this database's own objects ever committed a seq here.
    if (!keys.isDataObject(keys.prefix + k)) return undefined
    folded.push(keys.prefix + k)
  }
  return { firstSeq, keys: folded }
}

/**
 * Parses a log entry's `data`. Only an optimisation rests on it: anything but
 * base64 of exactly `size` bytes (at most MAX_INLINE_BYTES) is ignored, and
 * the object is read instead.
 */
function inlineData(value: unknown, size: number): Uint8Array | undefined {
  if (typeof value !== 'string' || size <= 0 || size > MAX_INLINE_BYTES) return undefined
  if (value.length !== 4 * Math.ceil(size / 3) || !BASE64.test(value)) return undefined
  const bytes = Buffer.from(value, 'base64')
  return bytes.byteLength === size ? new Uint8Array(bytes) : undefined
}

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/

/**
 * Parses `carried`. A malformed record set is dropped as a whole (unknown),
 * which can only make an outcome CommitIndeterminate, never wrong.
 */
function carriedField(value: unknown, seq: number): CarriedRecord[] | undefined {
  if (!Array.isArray(value) || value.length > MAX_CARRIED_RECORDS) return undefined
  const out: CarriedRecord[] = []
  for (const r of value) {
    if (typeof r !== 'object' || r === null) return undefined
    const { seq: at, ids: list } = r as Record<string, unknown>
    if (typeof at !== 'number' || !Number.isSafeInteger(at) || at < 1 || at > seq) return undefined
    if ((out.at(-1)?.seq ?? 0) >= at) return undefined
    if (list !== undefined && (!Array.isArray(list) || list.length > MAX_CARRIED_KEYS))
      return undefined
    const ids: string[] = []
    for (const id of (list as unknown[] | undefined) ?? []) {
      if (typeof id !== 'string' || !CARRIED_ID.test(id)) return undefined
      ids.push(id)
    }
    out.push({ seq: at, ids })
  }
  return out
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
  const keys = new DatabaseKeys(prefix)
  const snapshot = refField(m.snapshot, 'snapshot', key, keys, 'snapshot')
  const folded = foldedField((m.snapshot as Record<string, unknown>).folded, snapshot, keys)
  if (folded) snapshot.folded = folded
  // The Go client writes a nil log as null.
  if (m.log !== undefined && m.log !== null && !Array.isArray(m.log))
    throw corrupt(key, 'log must be an array')
  const log = ((m.log as unknown[] | null | undefined) ?? []).map((e, i) =>
    refField(e, `log[${i}]`, key, keys, 'changeset'),
  )
  // A key is a commit's identity: listed twice, the log would apply one
  // changeset twice and lose the row of the commit it displaced.
  const seen = new Set<string>()
  log.forEach((e, i) => {
    if (seen.has(e.key)) throw corrupt(key, `log[${i}].key ${e.key} is listed twice`)
    seen.add(e.key)
  })
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
  const carried = carriedField(m.carried, seq)
  return {
    formatVersion,
    seq,
    schemaVersion,
    compatSchemaVersion,
    snapshot,
    log,
    ...(carried ? { carried } : {}),
  }
}

/**
 * Serialises a manifest in the shared on-store form. Throws
 * {@link ManifestTooLargeError} rather than produce one no client could read.
 */
export function serializeManifest(m: Manifest): Uint8Array {
  const ref = (r: BlobRef) => {
    const out: Record<string, unknown> = { key: r.key, seq: r.seq }
    if (r.size > 0) out.size = r.size
    if (r.time !== undefined) out.time = r.time
    if (r.data !== undefined) out.data = Buffer.from(r.data).toString('base64')
    return out
  }
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
  if (m.carried && m.carried.length > 0) {
    out.carried = m.carried.map((r) =>
      r.ids.length > 0 ? { seq: r.seq, ids: r.ids } : { seq: r.seq },
    )
  }
  const bytes = new TextEncoder().encode(JSON.stringify(out))
  if (bytes.byteLength > MAX_MANIFEST_BYTES)
    throw new ManifestTooLargeError(bytes.byteLength, m.log.length)
  return bytes
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
  const snapshot: BlobRef = { ...next.snapshot, folded }
  // A compaction's snapshot holds a seq some earlier commit made: keep its time.
  const time = snapshot.time ?? timeAtSeq(base, snapshot.seq)
  if (time !== undefined) snapshot.time = time
  return { ...next, snapshot }
}

/** The commit time `m` records for `seq` (a log entry's, or the snapshot's own). */
export function timeAtSeq(m: Manifest, seq: number): number | undefined {
  if (seq > m.snapshot.seq) return m.log[seq - m.snapshot.seq - 1]?.time
  return seq === m.snapshot.seq ? m.snapshot.time : undefined
}

/**
 * The seq after `m`'s. Throws (nothing is written) when it would not be a safe
 * integer: a seq no client can read back would make the database unusable.
 */
export function nextSeq(m: Manifest): number {
  const seq = m.seq + 1
  if (!Number.isSafeInteger(seq)) {
    throw new CorruptError(
      `the database's seq ${m.seq} cannot grow any further (the next would exceed 2^53 - 1); nothing was written. No real history gets there, so the manifest was probably tampered with: restore an earlier manifest.json, or copy the data into a new database (pull it to a file, then init a new prefix from that file; a push would need a seq too)`,
    )
  }
  return seq
}

/**
 * `next`, about to be written over `base`, with its own carried record: a
 * commit that advances seq records the offers it carries (none: an empty
 * record); one that keeps seq (compaction, push) keeps the records.
 */
export function withCarriedRecord(
  base: Manifest | undefined,
  next: Manifest,
  carried: readonly string[],
): Manifest {
  const ids = carried.map((k) => carriedId(k) ?? k)
  if (base === undefined || next.seq <= base.seq) return next
  const kept = (next.carried ?? []).filter((r) => r.seq < next.seq)
  const records = [...kept, { seq: next.seq, ids }]
  return { ...next, carried: records.slice(-MAX_CARRIED_RECORDS) }
}

/** The seq of the commit that carried the offer `key`, if `m` records one. */
export function carriedAt(m: Manifest, key: string): number | undefined {
  const full = changesetId(key)
  const id = carriedId(key)
  // A writer that knows no inline bytes in keys records the whole id.
  return id === undefined
    ? undefined
    : m.carried?.find((r) => r.ids.includes(id) || r.ids.includes(full!))?.seq
}

/**
 * The id a carried record names an offer by: its changeset id without the
 * bytes an offer's key may carry (`-d<base 32>` after its ULID, co-commit.ts).
 */
function carriedId(key: string): string | undefined {
  const id = changesetId(key)
  if (id === undefined) return undefined
  return OFFER_INLINE_BYTES.exec(id)?.[1] ?? id
}

/** Whether `m` records what the commit at `seq` carried. */
export function recordsCarried(m: Manifest, seq: number): boolean {
  return m.carried?.some((r) => r.seq === seq) ?? false
}

/** A manifest with the changeset `key` appended to its log (seq + 1). */
export function appendLog(m: Manifest, key: string, bytes: Uint8Array): Manifest {
  const seq = nextSeq(m)
  const size = bytes.byteLength
  const entry: BlobRef = { key, seq, size }
  if (size <= MAX_INLINE_BYTES) entry.data = bytes
  // The newest entries keep their bytes within MAX_INLINE_TOTAL; older ones drop them.
  let inline = entry.data?.byteLength ?? 0
  const log = [...m.log, entry]
  for (let i = log.length - 2; i >= 0; i--) {
    const e = log[i]!
    if (e.data === undefined) continue
    if (inline + e.data.byteLength <= MAX_INLINE_TOTAL) {
      inline += e.data.byteLength
      continue
    }
    const { data: _data, ...rest } = e
    log[i] = rest
  }
  return { ...m, seq, log }
}
