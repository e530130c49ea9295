/**
 * Co-commit: under contention, one commit (one changeset, one CAS) carries the
 * transactions of several processes. The log format is unchanged: the carried
 * transactions are rows of the leader's changeset; the manifest's optional
 * `carried` records (format/manifest.ts) say which offers each commit carried.
 *
 * A process that writes while others do ("contended": it lost a race or took
 * in another process's commit recently) uploads its changeset under a key that
 * names the manifest it ran on (`cs-q<seq>-<head hash>-<kind><rank><rows
 * hash><ulid>.bin`, still `changesets/<epoch>/cs-<id>.bin`): an *offer* (kind
 * `o`) when another process may carry it, a *waiting* upload (kind `w`)
 * otherwise. A process that is not contended names its uploads the same way,
 * kind `p` when it would offer the transaction if it were (`w` otherwise),
 * and publishes them with its own CAS. A contended process then lists the
 * offers made on the same manifest: the first one (by key: most lost races
 * first, then time) leads, the others follow (write-queue.ts, #gatherOffers).
 * The leader fetches the offers, applies those still valid after its own
 * changes in its local transaction, and publishes the changes of all of them
 * as one changeset:
 *
 * - Same base only. An offer is carried only in a commit over the exact
 *   manifest it ran on. Only one CAS over a manifest can win, so an offer lands
 *   at most once, and its owner learns the outcome from the record of the
 *   commit that followed its base (publish.ts, `offer`). Once that is known,
 *   no one can carry the offer any more, and the owner may re-run.
 * - Disjoint rows. The transactions in one commit all ran on the same state and
 *   none may touch a row another one touches (by table and primary key). An
 *   offer must also apply cleanly after the ones before it (constraints).
 * - Serializable: only "point writes" are offered (point-writes.ts): every read
 *   of the transaction is of a row it writes, so disjoint rows leave its reads
 *   as they were, and leader, then carried offers in order, is a serial order.
 *   Snapshot isolation: every changeset commit is offered (first committer
 *   wins, by row).
 *
 * `w` and `p` uploads are never carried by others; they make a waiting process
 * visible to a writer that would otherwise win every race (fair-share.ts),
 * and a leader counts the `o` and `p` uploads made on the previous manifest to
 * know how many offers to wait for (many processes that start at once race
 * plain CASes first: their next offers should travel together).
 *
 * @module
 */
import { createHash } from 'node:crypto'
import type Database from 'better-sqlite3'
import { decodeChangeset } from './changeset/index.js'
import type { Changeset, Value } from './changeset/types.js'
import {
  carriedAt,
  changesetId,
  headKey,
  MAX_CARRIED_ID,
  type Manifest,
  OFFER_INLINE_BYTES,
} from './format/manifest.js'

/** Digits of the seq in an offer's key (fixed, so keys sort and list by prefix). */
const SEQ_DIGITS = 16

/** Offers a leader lists (and fetches) at most. */
export const MAX_OFFERS = 64
/** Offers larger than this are left to their owner. */
export const MAX_OFFER_BYTES = 1 << 20

/** The id part naming `manifest`: its seq and a hash of the key that committed it. */
export function baseTag(manifest: Manifest): string {
  return tagOf(manifest.seq, headKey(manifest))
}

/** The id part naming the manifest at `seq` whose last commit is `head`. */
export function tagOf(seq: number, head: string): string {
  const hash = createHash('sha256').update(head).digest('hex').slice(0, 10)
  return `q${String(seq).padStart(SEQ_DIGITS, '0')}-${hash}-`
}

/** Kinds of uploads made on a manifest; see the module comment. */
export type UploadKind = 'o' | 'w' | 'p'

/** The rows hash of uploads nobody carries (only offers need theirs). */
export const NO_ROWS_HASH = '00000000'

/**
 * The rank of a commit that lost no race: two base-36 characters after the
 * kind, MAX_RANK less the races lost. Keys list in order, so the offers of
 * commits that lost more races come first. (One decimal digit saturated after
 * 9 losses: on one hot row 16 processes each lose about 15 rounds between
 * commits, and the longest-waiting ones then tied, decided by offer time.)
 */
const MAX_RANK = 36 * 36 - 1

/**
 * The id of an upload made on `manifest`: an offer (`o`), a waiting upload
 * (`w`) or a plain one (`p`), by a commit on its `attempt`th run. The rank
 * after the kind puts the offers of commits that lost more races first: the
 * first offer leads, so the process that waited longest leads (and, on a hot
 * row, commits).
 */
export function offerId(
  manifest: Manifest,
  kind: UploadKind,
  attempt: number,
  rows: string,
  ulid: string,
  bytes?: Uint8Array,
): string {
  const lost = Math.min(MAX_RANK, Math.max(0, attempt - 1))
  const id = `${baseTag(manifest)}${kind}${(MAX_RANK - lost).toString(36).padStart(2, '0')}${rows}${ulid}`
  return kind === 'o' && bytes && bytes.byteLength <= MAX_KEY_INLINE_BYTES
    ? `${id}${INLINE_MARK}${base32(bytes)}`
    : id
}

/**
 * Offers of at most this many bytes also carry them in their key (base 32,
 * after `-d`), so a leader has them from its listing, without a GET. The key
 * stays a valid carried id (letters, digits, `-`, at most 200 characters) and
 * a file name on every file system (under 255 bytes).
 */
export const MAX_KEY_INLINE_BYTES = 80
/** The longest offer id (with inline bytes): a carried id's limit. */
export const MAX_OFFER_ID = MAX_CARRIED_ID
const INLINE_MARK = '-d'

/**
 * The bytes an offer's key carries, when they are exactly `size` bytes (its
 * listed size); undefined otherwise (then the object is read).
 */
export function keyInlineBytes(key: string, size: number): Uint8Array | undefined {
  const id = changesetId(key)
  const m = id === undefined ? null : OFFER_INLINE_BYTES.exec(id)
  if (!m || size <= 0 || size > MAX_KEY_INLINE_BYTES) return undefined
  const bytes = unbase32(m[2]!)
  return bytes?.byteLength === size ? bytes : undefined
}

/** Crockford base 32, 5 bits a character, no padding. */
function base32(bytes: Uint8Array): string {
  let out = ''
  let bits = 0
  let acc = 0
  for (const b of bytes) {
    acc = (acc << 8) | b
    bits += 8
    while (bits >= 5) {
      bits -= 5
      out += CROCKFORD[(acc >> bits) & 31]
    }
    acc &= (1 << bits) - 1
  }
  if (bits > 0) out += CROCKFORD[(acc << (5 - bits)) & 31]
  return out
}

/** Inverse of base32; undefined for a character outside the alphabet or stray bits. */
function unbase32(text: string): Uint8Array | undefined {
  const out: number[] = []
  let bits = 0
  let acc = 0
  for (const ch of text) {
    const v = CROCKFORD.indexOf(ch)
    if (v < 0) return undefined
    acc = (acc << 5) | v
    bits += 5
    if (bits >= 8) {
      bits -= 8
      out.push((acc >> bits) & 0xff)
    }
    acc &= (1 << bits) - 1
  }
  // Canonical form only: leftover bits are fewer than 5 and zero.
  if (bits >= 5 || acc !== 0) return undefined
  return new Uint8Array(out)
}

/**
 * A hash of the rows a changeset touches (8 hex digits, in the offer's key):
 * offers with the hash of ours touch the same rows (or collide), so a leader
 * need not fetch them to know it cannot carry them (a hot row).
 */
export function rowsHash(bytes: Uint8Array): string {
  const cs = decodeOffer(bytes)
  const keys = cs ? rowKeys(cs).sort() : ['?']
  return createHash('sha256').update(keys.join('\u0002')).digest('hex').slice(0, 8)
}

/** The rows hash in an offer's key, if it is one. */
export function rowsHashOf(key: string): string | undefined {
  return /-[owp][0-9a-z]{2}([0-9a-f]{8})[0-9A-HJKMNP-TV-Z]{26}(?:-d[0-9A-HJKMNP-TV-Z]*)?\.bin$/.exec(
    key,
  )?.[1]
}

/**
 * The list prefixes of every upload made on the 10 to 20 manifests up to
 * `manifest` (seqs sharing all but the last digit with its seq, or with the
 * seq 10 lower): where a writer looks for waiting processes.
 */
export function recentPrefixes(changesetKeyPrefix: string, manifest: Manifest): string[] {
  const decade = (seq: number) =>
    `${changesetKeyPrefix}q${String(seq).padStart(SEQ_DIGITS, '0').slice(0, -1)}`
  return manifest.seq >= 10
    ? [decade(manifest.seq - 10), decade(manifest.seq)]
    : [decade(manifest.seq)]
}

/** Whether `key` is an upload of another process made on a manifest near `manifest`. */
export function isWaitingUpload(key: string, manifest: Manifest, own: string | undefined): boolean {
  if (key === own) return false
  const m = /cs-q(\d+)-[0-9a-f]+-[owp][^/]*\.bin$/.exec(key)
  if (!m) return false
  const seq = Number(m[1])
  // Not one a commit took in (its own CAS, or carried by a leader).
  if (manifest.log.some((e) => e.key === key) || carriedAt(manifest, key) !== undefined)
    return false
  return seq <= manifest.seq && manifest.seq - seq < 20
}

const CROCKFORD = '0123456789ABCDEFGHJKMNPQRSTVWXYZ'

/**
 * When an offer was made, by its owner's clock (the time part of the ULID in
 * its key), or undefined for a key that is not an offer.
 */
export function offeredAt(key: string): number | undefined {
  const m = /-o[0-9a-z]{2}[0-9a-f]{8}([0-9A-HJKMNP-TV-Z]{10})[^/]*\.bin$/.exec(key)
  if (!m) return undefined
  let t = 0
  for (const ch of m[1]!) t = t * 32 + CROCKFORD.indexOf(ch)
  return t
}

/**
 * Offers older than this (by the clocks of owner and publisher) are left
 * alone: an upload is published within PUBLISH_WINDOW_MS (60 s) of its start,
 * and GC spares unreferenced objects for at least 2 minutes, which leaves room
 * for clocks that disagree by a minute.
 */
export const MAX_OFFER_AGE_MS = 20_000

/** Identifies each row a changeset touches: table and primary key. */
export function rowKeys(cs: Changeset): string[] {
  const out: string[] = []
  for (const t of cs.tables) {
    const positions: number[] = []
    t.pk.forEach((p, i) => {
      if (p > 0) positions[p - 1] = i
    })
    for (const c of t.changes) {
      const record = c.op === 'INSERT' ? c.new : c.old
      const key = positions.map((i) => valueKey(record[i])).join('\u0001')
      // Table names compare case-insensitively in SQLite.
      out.push(`${t.name.toLowerCase()}\u0000${key}`)
    }
  }
  return out
}

/**
 * A key for a PK value under which values SQLite may treat as equal collide
 * (numbers by value, text case-folded for NOCASE): a collision only leaves an
 * offer to its owner.
 */
function valueKey(v: Value | undefined): string {
  if (v === undefined || v === null) return 'null'
  if (typeof v === 'bigint' || typeof v === 'number') return `n${Number(v)}`
  if (typeof v === 'string') return `t${v.toLowerCase()}`
  if (v instanceof Uint8Array) return `b${Buffer.from(v).toString('hex')}`
  return `t${String(v).toLowerCase()}`
}

/** Decodes an offer; undefined when it is not a changeset we can take. */
export function decodeOffer(bytes: Uint8Array): Changeset | undefined {
  try {
    const cs = decodeChangeset(bytes)
    return cs.patchset ? undefined : cs
  } catch {
    return undefined
  }
}

/**
 * Whether every table of an offer is one whose changes apply without side
 * effects here: a table of `main` without triggers and without foreign keys
 * either way (an apply must not fire them again). Answers are kept per table
 * for one gathering (the schema does not change within it).
 */
export class PlainTables {
  readonly #db: Database.Database
  readonly #known = new Map<string, boolean>()
  #query: Database.Statement | undefined

  constructor(db: Database.Database) {
    this.#db = db
  }

  all(cs: Changeset): boolean {
    return cs.tables.every((t) => this.#plain(t.name))
  }

  #plain(table: string): boolean {
    const key = table.toLowerCase()
    let plain = this.#known.get(key)
    if (plain === undefined) {
      this.#query ??= this.#db.prepare(
        `SELECT
             (SELECT count(*) FROM main.sqlite_schema WHERE type = 'table' AND name = @t COLLATE NOCASE) AS tables,
             (SELECT count(*) FROM main.sqlite_schema WHERE type = 'trigger' AND tbl_name = @t COLLATE NOCASE) AS triggers,
             (SELECT count(*) FROM main.sqlite_schema s, pragma_foreign_key_list(s.name) f
               WHERE s.type = 'table' AND (s.name = @t COLLATE NOCASE OR f."table" = @t COLLATE NOCASE)) AS fks`,
      )
      const n = this.#query.get({ t: table }) as { tables: number; triggers: number; fks: number }
      plain = n.tables === 1 && n.triggers === 0 && n.fks === 0
      this.#known.set(key, plain)
    }
    return plain
  }
}
