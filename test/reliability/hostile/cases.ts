/**
 * The hostile cases: each damages the healthy database of fixture.ts in one
 * way (manifest, snapshot, changesets, keys, store layout) and states what
 * every operation must answer: a typed error code, or 'ok' with exactly the
 * right rows.
 */
import type { S3dbErrorCode } from '@s3db/core'
import { encodeChangeset } from '@s3db/core/internal'
import {
  BASE_SNAPSHOT,
  CS1,
  CS1_BYTES,
  CS2,
  CS2_BYTES,
  type ManifestJson,
  ROWS_AT_4,
  type Row,
  SNAPSHOT,
  type State,
  sqliteImage,
} from './fixture.js'

export type Outcome = 'ok' | S3dbErrorCode

export interface HostileCase {
  name: string
  /** Turns a fresh copy of the healthy state into the hostile one. */
  tamper(state: State): void
  /** What reading the manifest answers: `s3db status` and gc. */
  manifest: Outcome
  /** What building the database from the store answers: a cold open, `s3db pull`. */
  data: Outcome
  /**
   * What view, update and compact answer on a replica that was at seq 3 before
   * the damage (default: `manifest` when that fails, else `data`).
   */
  warm?: Outcome
  /** What update answers on an opened database (default: like view). */
  update?: Outcome
  /** Rows a successful read shows (default: the healthy head). */
  rows?: Row[]
  /** Keys (relative to the prefix) a successful gc may delete: orphans by FORMAT.md's rules. */
  gcMayDelete?: string[]
}

const text = (s: string) => new TextEncoder().encode(s)

function manifest(state: State): ManifestJson {
  if (state.manifest instanceof Uint8Array) throw new Error('manifest is raw bytes')
  return state.manifest
}

function snapshotRef(state: State): Record<string, unknown> {
  return manifest(state).snapshot as Record<string, unknown>
}

function logEntry(state: State, i: number): Record<string, unknown> {
  return (manifest(state).log as Record<string, unknown>[])[i]!
}

function raw(body: string | Uint8Array): (state: State) => void {
  return (state) => {
    state.manifest = typeof body === 'string' ? text(body) : body
  }
}

function set(path: string, value: unknown): (state: State) => void {
  return (state) => {
    const parts = path.split('.')
    let target = manifest(state) as Record<string, unknown>
    for (const p of parts.slice(0, -1)) target = target[p] as Record<string, unknown>
    target[parts.at(-1)!] = value
  }
}

/** Replaces an object's bytes and, when `recordSize`, the size the manifest records. */
function replaceObject(
  key: string,
  make: (original: Uint8Array) => Uint8Array,
  size: 'record' | 'keep' | 'drop' = 'record',
): (state: State) => void {
  return (state) => {
    const bytes = make(state.objects.get(key) as Uint8Array)
    state.objects.set(key, bytes)
    const m = manifest(state)
    const ref = [m.snapshot, ...(m.log ?? [])].find((r) => r?.key === key)
    if (!ref) throw new Error(`${key} is not referenced`)
    if (size === 'record') ref.size = bytes.byteLength
    if (size === 'drop') delete ref.size
  }
}

function moveObject(from: string, to: string): (state: State) => void {
  return (state) => {
    state.objects.set(to, state.objects.get(from)!)
    state.objects.delete(from)
  }
}

/** A second, valid database with a different row, to be found where it must not be used. */
const OTHER_SNAPSHOT = sqliteImage((db) => {
  db.exec('CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT NOT NULL)')
  db.exec("INSERT INTO t VALUES (1, 'not this database')")
})

/** A database nested under this one's prefix (`inner/`), valid on its own. */
function addNestedDatabase(state: State): void {
  state.objects.set('inner/snapshots/snap-in.sqlite', OTHER_SNAPSHOT)
  state.objects.set('inner/changesets/snap-in/cs-in.bin', CS1_BYTES)
  state.objects.set('inner/manifest.json', (prefix) =>
    text(
      JSON.stringify({
        seq: 1,
        snapshot: { key: `${prefix}inner/snapshots/snap-in.sqlite`, seq: 0 },
        log: [{ key: `${prefix}inner/changesets/snap-in/cs-in.bin`, seq: 1 }],
      }),
    ),
  )
}

/** A database beside this one (`../other/`). */
function addOtherDatabase(state: State): void {
  state.objects.set('../other/snapshots/snap-o.sqlite', OTHER_SNAPSHOT)
  state.objects.set('../other/changesets/snap-o/cs-o.bin', CS2_BYTES)
}

/**
 * The snapshot with its last page (a leaf of the filler table) overwritten: the
 * header still says SQLite, table t and the log apply fine, the damage shows
 * only when something reads that table.
 */
export function damagedPages(image: Uint8Array): Uint8Array {
  const out = Uint8Array.from(image)
  out.fill(0xa5, out.byteLength - 4096)
  return out
}

const MAX = Number.MAX_SAFE_INTEGER

export const CASES: HostileCase[] = [
  // The manifest as a document.
  { name: 'manifest: not JSON', tamper: raw('{"seq": 4,'), manifest: 'Corrupt', data: 'Corrupt' },
  { name: 'manifest: empty (0 bytes)', tamper: raw(''), manifest: 'Corrupt', data: 'Corrupt' },
  {
    name: 'manifest: a JSON array',
    tamper: raw('[{"seq": 4}]'),
    manifest: 'Corrupt',
    data: 'Corrupt',
  },
  {
    name: 'manifest: a JSON string',
    tamper: raw('"manifest"'),
    manifest: 'Corrupt',
    data: 'Corrupt',
  },
  {
    name: 'manifest: invalid UTF-8',
    tamper: raw(new Uint8Array([0x7b, 0xff, 0xfe, 0x7d])),
    manifest: 'Corrupt',
    data: 'Corrupt',
  },
  {
    name: 'manifest: NaN seq',
    tamper: raw('{"seq": NaN, "snapshot": {"key": "x", "seq": 0}}'),
    manifest: 'Corrupt',
    data: 'Corrupt',
  },
  {
    name: 'manifest: deeply nested arrays',
    tamper: raw(`${'['.repeat(100_000)}${']'.repeat(100_000)}`),
    manifest: 'Corrupt',
    data: 'Corrupt',
  },
  {
    name: 'manifest: over the size cap (9 MiB)',
    tamper: (s) => {
      manifest(s).pad = 'x'.repeat(9 * 1024 * 1024)
    },
    manifest: 'Corrupt',
    data: 'Corrupt',
  },
  // Types and ranges of fields.
  {
    name: 'manifest: seq is a string',
    tamper: set('seq', '4'),
    manifest: 'Corrupt',
    data: 'Corrupt',
  },
  { name: 'manifest: negative seq', tamper: set('seq', -1), manifest: 'Corrupt', data: 'Corrupt' },
  {
    name: 'manifest: fractional seq',
    tamper: set('seq', 4.5),
    manifest: 'Corrupt',
    data: 'Corrupt',
  },
  {
    name: 'manifest: seq past 2^53',
    tamper: set('seq', 2 ** 53 + 2),
    manifest: 'Corrupt',
    data: 'Corrupt',
  },
  {
    name: 'manifest: fractional log seq',
    tamper: set('log.0.seq', 3.5),
    manifest: 'Corrupt',
    data: 'Corrupt',
  },
  {
    name: 'manifest: gap in the log seqs',
    tamper: (s) => {
      logEntry(s, 1).seq = 5
      manifest(s).seq = 5
    },
    manifest: 'Corrupt',
    data: 'Corrupt',
  },
  {
    name: 'manifest: log out of order',
    tamper: (s) => {
      logEntry(s, 0).seq = 4
      logEntry(s, 1).seq = 3
    },
    manifest: 'Corrupt',
    data: 'Corrupt',
  },
  {
    name: 'manifest: snapshot.seq above seq',
    tamper: set('snapshot.seq', 7),
    manifest: 'Corrupt',
    data: 'Corrupt',
  },
  {
    name: 'manifest: seq past the end of the log',
    tamper: set('seq', 9),
    manifest: 'Corrupt',
    data: 'Corrupt',
  },
  {
    name: 'manifest: newer format_version',
    tamper: set('format_version', 2),
    manifest: 'FormatTooNew',
    data: 'FormatTooNew',
  },
  {
    name: 'manifest: format_version of the wrong type',
    tamper: set('format_version', '1'),
    manifest: 'Corrupt',
    data: 'Corrupt',
  },
  {
    name: 'manifest: no snapshot',
    tamper: (s) => {
      delete manifest(s).snapshot
    },
    manifest: 'Corrupt',
    data: 'Corrupt',
  },
  {
    name: 'manifest: snapshot is a number',
    tamper: set('snapshot', 5),
    manifest: 'Corrupt',
    data: 'Corrupt',
  },
  {
    name: 'manifest: log is an object',
    tamper: set('log', {}),
    manifest: 'Corrupt',
    data: 'Corrupt',
  },
  {
    name: 'manifest: log entry without a key',
    tamper: (s) => {
      delete logEntry(s, 0).key
    },
    manifest: 'Corrupt',
    data: 'Corrupt',
  },
  {
    name: 'manifest: snapshot key of the wrong type',
    tamper: set('snapshot.key', 42),
    manifest: 'Corrupt',
    data: 'Corrupt',
  },
  {
    name: 'manifest: negative size',
    tamper: set('log.1.size', -5),
    manifest: 'Corrupt',
    data: 'Corrupt',
  },
  {
    name: 'manifest: fractional size',
    tamper: set('snapshot.size', 1000.5),
    manifest: 'Corrupt',
    data: 'Corrupt',
  },
  {
    name: 'manifest: snapshot size 1e15',
    tamper: set('snapshot.size', 1e15),
    manifest: 'Corrupt',
    data: 'Corrupt',
  },
  {
    name: 'manifest: negative schema_version',
    tamper: set('schema_version', -1),
    manifest: 'Corrupt',
    data: 'Corrupt',
  },
  {
    name: 'manifest: compat_schema_version above schema_version',
    tamper: set('compat_schema_version', 3),
    manifest: 'Corrupt',
    data: 'Corrupt',
  },
  {
    name: 'manifest: one changeset listed twice',
    tamper: (s) => {
      logEntry(s, 1).key = CS1
      logEntry(s, 1).size = CS1_BYTES.byteLength
    },
    manifest: 'Corrupt',
    data: 'Corrupt',
  },
  // Keys: only this database's own namespace.
  {
    name: 'key: snapshot of a database nested under the prefix',
    tamper: (s) => {
      addNestedDatabase(s)
      Object.assign(snapshotRef(s), {
        key: 'inner/snapshots/snap-in.sqlite',
        size: OTHER_SNAPSHOT.byteLength,
      })
    },
    manifest: 'Corrupt',
    data: 'Corrupt',
  },
  {
    name: 'key: changeset of a database nested under the prefix',
    tamper: (s) => {
      addNestedDatabase(s)
      s.objects.set('inner/changesets/snap-in/cs-2.bin', CS2_BYTES)
      logEntry(s, 1).key = 'inner/changesets/snap-in/cs-2.bin'
    },
    manifest: 'Corrupt',
    data: 'Corrupt',
  },
  {
    name: "key: a user's file under the prefix as the snapshot",
    tamper: (s) => {
      s.objects.set('precious.sqlite', BASE_SNAPSHOT)
      snapshotRef(s).key = 'precious.sqlite'
    },
    manifest: 'Corrupt',
    data: 'Corrupt',
  },
  {
    name: 'key: snapshot of the database beside this one',
    tamper: (s) => {
      addOtherDatabase(s)
      Object.assign(snapshotRef(s), {
        key: '../other/snapshots/snap-o.sqlite',
        size: OTHER_SNAPSHOT.byteLength,
      })
    },
    manifest: 'Corrupt',
    data: 'Corrupt',
  },
  {
    name: 'key: changeset of the database beside this one',
    tamper: (s) => {
      addOtherDatabase(s)
      logEntry(s, 1).key = '../other/changesets/snap-o/cs-o.bin'
    },
    manifest: 'Corrupt',
    data: 'Corrupt',
  },
  {
    name: 'key: snapshot key climbing out with ..',
    tamper: (s) => {
      addOtherDatabase(s)
      snapshotRef(s).key = 'snapshots/../../other/snapshots/snap-o.sqlite'
    },
    manifest: 'Corrupt',
    data: 'Corrupt',
  },
  {
    name: 'key: a changeset key as the snapshot',
    tamper: set('snapshot.key', CS1),
    manifest: 'Corrupt',
    data: 'Corrupt',
  },
  {
    name: 'key: the snapshot key as a changeset',
    tamper: set('log.0.key', SNAPSHOT),
    manifest: 'Corrupt',
    data: 'Corrupt',
  },
  {
    name: 'key: snapshot not named snap-<id>',
    tamper: (s) => {
      moveObject(SNAPSHOT, 'snapshots/base.sqlite')(s)
      snapshotRef(s).key = 'snapshots/base.sqlite'
    },
    manifest: 'Corrupt',
    data: 'Corrupt',
  },
  {
    name: 'key: changeset outside an epoch folder',
    tamper: (s) => {
      moveObject(CS2, 'changesets/cs-0002.bin')(s)
      logEntry(s, 1).key = 'changesets/cs-0002.bin'
    },
    manifest: 'Corrupt',
    data: 'Corrupt',
  },
  // Snapshot objects (the manifest is valid; a replica that is already past the
  // snapshot does not need it and keeps working).
  {
    name: 'snapshot: missing',
    tamper: (s) => {
      s.objects.delete(SNAPSHOT)
    },
    manifest: 'ok',
    data: 'Corrupt',
    warm: 'ok',
  },
  {
    name: 'snapshot: 0 bytes',
    tamper: replaceObject(SNAPSHOT, () => new Uint8Array(0), 'drop'),
    manifest: 'ok',
    data: 'Corrupt',
    warm: 'ok',
  },
  {
    name: 'snapshot: truncated (size recorded)',
    tamper: replaceObject(SNAPSHOT, (b) => b.subarray(0, b.byteLength / 2), 'keep'),
    manifest: 'ok',
    data: 'Corrupt',
    warm: 'ok',
  },
  {
    name: 'snapshot: truncated (no size recorded)',
    tamper: replaceObject(SNAPSHOT, (b) => b.subarray(0, 4096 + 1000), 'drop'),
    manifest: 'ok',
    data: 'Corrupt',
    warm: 'ok',
  },
  {
    name: 'snapshot: longer than its recorded size',
    tamper: replaceObject(SNAPSHOT, (b) => Buffer.concat([b, Buffer.alloc(4096, 1)]), 'keep'),
    manifest: 'ok',
    data: 'Corrupt',
    warm: 'ok',
  },
  {
    name: 'snapshot: size 1e14 recorded',
    tamper: set('snapshot.size', 1e14),
    manifest: 'ok',
    data: 'Corrupt',
    warm: 'ok',
  },
  {
    name: 'snapshot: not SQLite',
    tamper: replaceObject(SNAPSHOT, (b) => Buffer.alloc(b.byteLength, 'not a database ')),
    manifest: 'ok',
    data: 'Corrupt',
    warm: 'ok',
  },
  {
    name: 'snapshot: damaged pages behind a valid header',
    tamper: replaceObject(SNAPSHOT, damagedPages),
    manifest: 'ok',
    data: 'Corrupt',
    warm: 'ok',
  },
  {
    name: 'snapshot: a database without the tables of the log',
    tamper: replaceObject(SNAPSHOT, () =>
      sqliteImage((db) => db.exec('CREATE TABLE unrelated (id INTEGER PRIMARY KEY)')),
    ),
    manifest: 'ok',
    data: 'Corrupt',
    warm: 'ok',
  },
  {
    name: 'snapshot: another database with the same schema',
    // The log updates row 1 from 'one': on these rows it does not apply.
    tamper: replaceObject(SNAPSHOT, () => OTHER_SNAPSHOT.slice()),
    manifest: 'ok',
    data: 'Corrupt',
    warm: 'ok',
  },
  {
    name: 'layout: a folder where the snapshot should be',
    tamper: (s) => {
      s.objects.delete(SNAPSHOT)
      s.objects.set(`${SNAPSHOT}/part-1`, BASE_SNAPSHOT)
    },
    manifest: 'ok',
    data: 'Corrupt',
    warm: 'ok',
  },
  // Changeset objects.
  {
    name: 'changeset: 0 bytes (no size recorded)',
    tamper: replaceObject(CS2, () => new Uint8Array(0), 'drop'),
    manifest: 'ok',
    data: 'Corrupt',
  },
  {
    name: 'changeset: 0 bytes (size recorded), one the replica already has',
    tamper: replaceObject(CS1, () => new Uint8Array(0), 'keep'),
    manifest: 'ok',
    data: 'Corrupt',
    warm: 'ok',
  },
  {
    name: 'changeset: truncated (no size recorded)',
    tamper: replaceObject(CS2, (b) => b.subarray(0, b.byteLength - 4), 'drop'),
    manifest: 'ok',
    data: 'Corrupt',
  },
  {
    name: 'changeset: longer than its recorded size',
    tamper: replaceObject(CS2, (b) => Buffer.concat([b, b]), 'keep'),
    manifest: 'ok',
    data: 'Corrupt',
  },
  {
    name: 'changeset: size 1e14 recorded',
    tamper: set('log.1.size', 1e14),
    manifest: 'ok',
    data: 'Corrupt',
  },
  {
    name: 'changeset: garbage bytes',
    tamper: replaceObject(CS2, (b) => Buffer.alloc(b.byteLength, 0xff)),
    manifest: 'ok',
    data: 'Corrupt',
  },
  {
    name: 'changeset: for a table that does not exist',
    tamper: replaceObject(CS2, () =>
      encodeChangeset({
        tables: [
          {
            name: 'nope',
            pk: [1, 0],
            changes: [{ op: 'INSERT', indirect: false, new: [9n, 'x'] }],
          },
        ],
      }),
    ),
    manifest: 'ok',
    data: 'Corrupt',
  },
  {
    name: 'changeset: does not apply (updates a row that is not there)',
    tamper: replaceObject(CS2, () =>
      encodeChangeset({
        tables: [
          {
            name: 't',
            pk: [1, 0],
            changes: [{ op: 'UPDATE', indirect: false, old: [42n, 'x'], new: [undefined, 'y'] }],
          },
        ],
      }),
    ),
    manifest: 'ok',
    data: 'Corrupt',
  },
  {
    name: 'changeset: missing',
    tamper: (s) => {
      s.objects.delete(CS2)
    },
    manifest: 'ok',
    data: 'Corrupt',
  },
  {
    name: 'layout: changeset moved to another epoch folder',
    tamper: moveObject(CS2, 'changesets/snap-other/cs-0002.bin'),
    manifest: 'ok',
    data: 'Corrupt',
    // Named like a changeset and referenced by nothing: an orphan gc may collect.
    gcMayDelete: ['changesets/snap-other/cs-0002.bin'],
  },
  // Valid databases that must keep working, exactly.
  {
    name: 'seq at 2^53 - 1: readable, but no further commit',
    tamper: (s) => {
      const m = manifest(s)
      m.seq = MAX
      snapshotRef(s).seq = MAX - 2
      logEntry(s, 0).seq = MAX - 1
      logEntry(s, 1).seq = MAX
    },
    manifest: 'ok',
    data: 'ok',
    // No real history gets there: nextSeq refuses it as damage, writing nothing.
    update: 'Corrupt',
  },
  {
    name: 'benign: unknown fields, no sizes, no format or schema fields',
    tamper: (s) => {
      const m = manifest(s)
      m.future_field = { nested: [1, 2, 3] }
      delete m.format_version
      delete m.schema_version
      for (const ref of [m.snapshot, ...(m.log ?? [])]) {
        if (ref) {
          delete ref.size
          ref.comment = 'extra'
        }
      }
    },
    manifest: 'ok',
    data: 'ok',
  },
  {
    name: "benign: a user's files and a nested database under the prefix",
    tamper: (s) => {
      addNestedDatabase(s)
      s.objects.set('precious.sqlite', BASE_SNAPSHOT)
      s.objects.set('snapshots/notes.txt', text('keep me'))
      s.objects.set('changesets/snap-base/readme.md', text('keep me too'))
    },
    manifest: 'ok',
    data: 'ok',
    rows: ROWS_AT_4,
  },
]
