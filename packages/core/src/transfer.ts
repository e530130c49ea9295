/**
 * Whole-database transfers: create a database (optionally from a SQLite file),
 * pull it into a plain SQLite file, and push an edited file back as a new
 * snapshot with a compare-and-swap on the seq it was pulled at.
 *
 * @module
 */
import { constants } from 'node:fs'
import { mkdtemp, readFile, rename, rm, stat } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import Database from 'better-sqlite3'
import { DEFAULT_TRANSFER_SETTINGS } from './context.js'
import {
  AlreadyExistsError,
  InvalidArgumentError,
  isS3dbError,
  type NotFoundError,
  SeqMismatchError,
  StoreUnavailableError,
  WriteConflictError,
} from './errors.js'
import type { ProgressEvent } from './events.js'
import {
  DatabaseKeys,
  headKey,
  type Manifest,
  nextSeq,
  referencedObjectMissing,
} from './format/manifest.js'
import { validateDatabasePrefix } from './format/prefix.js'
import { publishManifest } from './publish.js'
import { type Runtime, systemRuntime } from './runtime.js'
import { uploadSnapshot } from './snapshot-upload.js'
import { cleanCopyOfUserFile, emptyDatabaseImage } from './sqlite-file.js'
import type { BlobStore } from './store/blob-store.js'
import { storeIdentity } from './store/identity.js'
import { buildFromSnapshot, readManifest, sameHistory, storePublisher } from './sync.js'
import { openOwnFile } from './util/safe-open.js'

/** Options shared by the transfer functions. */
export interface TransferOptions {
  signal?: AbortSignal | undefined
  /** Progress of snapshot uploads and downloads. */
  onProgress?: ((event: ProgressEvent) => void) | undefined
  /** @internal Clock, randomness and ids (the deterministic simulator's). */
  runtime?: Runtime | undefined
}

/** What init/pull/push report. */
export interface TransferResult {
  seq: number
  snapshotKey: string
  bytes: number
  /**
   * pull: the object that committed `seq`. Seq alone does not identify a state
   * (another client can replace the snapshot keeping seq): pass it to push as
   * `expectedHead` (push reads it from `<file>.s3db-seq` when that matches).
   */
  head?: string | undefined
}

/** Name of the sidecar `pull` writes beside the file: the seq it was pulled at. */
export function seqFileFor(file: string): string {
  return `${file}.s3db-seq`
}

/** Contents of the `.s3db-seq` sidecar. */
export interface PulledSeq {
  prefix: string
  seq: number
  /** The store pulled from (`s3://bucket`, `file:///root`); absent in older records. */
  store?: string | undefined
  /**
   * The object that committed `seq` when it was pulled: seq alone does not
   * identify a state (another client can replace the snapshot at the same seq).
   * Absent in older records.
   */
  head?: string | undefined
}

/** Writes the `.s3db-seq` record beside `file`: the store, prefix and seq it holds. */
export async function writePulledSeq(
  file: string,
  store: BlobStore,
  prefix: string,
  seq: number,
  head?: string,
): Promise<void> {
  const pulled: PulledSeq = { prefix, seq, store: storeIdentity(store), head }
  // s3db's own file beside the user's: never through a symlink planted there.
  const handle = await openOwnFile(
    seqFileFor(file),
    constants.O_WRONLY | constants.O_CREAT | constants.O_TRUNC,
    0o600,
    'write the pull record',
  )
  try {
    await handle.writeFile(`${JSON.stringify(pulled)}\n`)
  } finally {
    await handle.close()
  }
}

async function manifestExists(
  store: BlobStore,
  keys: DatabaseKeys,
  signal?: AbortSignal,
): Promise<boolean> {
  try {
    await store.stat(keys.manifest, { signal })
    return true
  } catch (err) {
    if (isS3dbError(err, 'NotFound')) return false
    throw err
  }
}

/**
 * Creates a database at `prefix`: empty, or seeded from the SQLite file `from`.
 * Refuses to overwrite an existing database (AlreadyExistsError).
 */
export async function initDatabase(
  store: BlobStore,
  prefix: string,
  options: TransferOptions & { from?: string | undefined } = {},
): Promise<TransferResult> {
  validateDatabasePrefix(prefix)
  const keys = new DatabaseKeys(prefix)
  // Checked first so that a large seed file is not uploaded for nothing.
  if (await manifestExists(store, keys, options.signal)) {
    throw new AlreadyExistsError(
      `a database already exists at ${prefix}; use push to replace its contents`,
    )
  }
  const { result } = await createDatabase(store, keys, options)
  return result
}

/**
 * Uploads the first snapshot and creates the manifest (`ifNoneMatch`: one creator
 * wins; a loser gets AlreadyExistsError). Returns the manifest with its ETag too.
 */
export async function createDatabase(
  store: BlobStore,
  keys: DatabaseKeys,
  options: TransferOptions & { from?: string | undefined } = {},
): Promise<{ result: TransferResult; manifest: Manifest; etag: string }> {
  const { signal } = options
  const runtime = options.runtime ?? systemRuntime
  const uploadedAt = runtime.monotonic()
  const prefix = keys.prefix
  // A unique key, even for an empty database (the Go client uses the fixed
  // snapshots/snap-init.sqlite): the first manifest is then unique too, so its
  // ETag is, and a compare-and-swap sent to a deleted database can never land
  // on one re-created at the same prefix (docs/FORMAT.md).
  const snapshotKey = keys.snapshot(runtime.newId())
  let size: number
  if (options.from) {
    const dir = await mkdtemp(join(tmpdir(), 's3db-init-'))
    try {
      const copy = await cleanCopyOfUserFile(resolve(options.from), dir)
      size = (await stat(copy)).size
      await uploadSnapshot(store, snapshotKey, copy, options)
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
  } else {
    const image = emptyDatabaseImage()
    size = image.byteLength
    await store.put(snapshotKey, image, { signal, contentType: 'application/vnd.sqlite3' })
  }
  const manifest: Manifest = {
    formatVersion: 1,
    seq: 0,
    schemaVersion: 0,
    snapshot: { key: snapshotKey, seq: 0, size },
    log: [],
  }
  // A snapshot no manifest can reference is removed at once (only
  // CommitIndeterminate leaves that open).
  const discard = () => store.delete(snapshotKey).catch(() => {})
  const outcome = await publishManifest(storePublisher(store, keys, runtime), {
    base: undefined,
    next: manifest,
    own: { key: snapshotKey, uploadedAt },
    signal,
  }).catch(async (err: unknown) => {
    if (!isS3dbError(err, 'CommitIndeterminate')) await discard()
    throw err
  })
  if (!outcome.committed) {
    await discard()
    throw new AlreadyExistsError(
      `a database was created at ${prefix} concurrently; nothing was overwritten`,
    )
  }
  return {
    result: { seq: 0, snapshotKey, bytes: size },
    manifest,
    etag: outcome.current.etag,
  }
}

/**
 * Materialises the current database into the plain SQLite file `file`
 * (replacing it) and records the seq in `<file>.s3db-seq` for a later push.
 */
export async function pullDatabase(
  store: BlobStore,
  prefix: string,
  file: string,
  options: TransferOptions = {},
): Promise<TransferResult> {
  validateDatabasePrefix(prefix)
  const keys = new DatabaseKeys(prefix)
  const target = resolve(file)
  let fetched = await readManifest(store, keys.manifest, prefix, options.signal)
  let built: string
  for (let attempt = 0; ; attempt++) {
    try {
      built = await buildFromSnapshot(
        store,
        fetched.manifest,
        dirname(target),
        {
          settings: DEFAULT_TRANSFER_SETTINGS,
          emit: (e) => {
            if (e.type === 'progress') options.onProgress?.(e)
          },
        },
        options.signal,
      )
      break
    } catch (err) {
      // GC may have collected what an older manifest referenced: read it again.
      // An unchanged manifest that names a missing object is damage.
      if (!isS3dbError(err, 'NotFound') || attempt >= 3) throw err
      const again = await readManifest(store, keys.manifest, prefix, options.signal)
      if (again.etag === fetched.etag)
        throw referencedObjectMissing((err as NotFoundError).key, err)
      fetched = again
    }
  }
  const { manifest } = fetched
  try {
    // A plain rollback-journal file: what the sqlite3 shell and other tools expect.
    const db = new Database(built)
    db.pragma('journal_mode = DELETE')
    db.close()
    await rename(built, target)
  } catch (err) {
    await rm(built, { force: true })
    throw err
  }
  const head = headKey(manifest)
  await writePulledSeq(target, store, prefix, manifest.seq, head)
  return {
    seq: manifest.seq,
    snapshotKey: manifest.snapshot.key,
    bytes: (await stat(target)).size,
    head,
  }
}

/**
 * The committing object recorded by pull in `<file>.s3db-seq`, when that record
 * is for this prefix and seq (a push given only the seq still checks identity).
 */
async function pulledHead(file: string, prefix: string, seq: number): Promise<string | undefined> {
  try {
    const record = JSON.parse(await readFile(seqFileFor(resolve(file)), 'utf8')) as PulledSeq
    return record.prefix === prefix && record.seq === seq && typeof record.head === 'string'
      ? record.head
      : undefined
  } catch {
    return undefined
  }
}

/** How push decides whether it may replace the database. */
export type PushGuard =
  | {
      expectedSeq: number
      /** The object that committed `expectedSeq` (from the pull record): also checked when given. */
      expectedHead?: string | undefined
      force?: false | undefined
    }
  | { force: true; expectedSeq?: undefined }

/**
 * Publishes the SQLite file `file` as the database's new state (a snapshot at
 * seq + 1), with a CAS. Without `force`, throws SeqMismatchError when the
 * database moved past `expectedSeq` (someone wrote since the pull).
 */
export async function pushDatabase(
  store: BlobStore,
  prefix: string,
  file: string,
  guard: PushGuard,
  options: TransferOptions = {},
): Promise<TransferResult> {
  validateDatabasePrefix(prefix)
  if (!guard.force && !Number.isSafeInteger(guard.expectedSeq)) {
    throw new InvalidArgumentError(
      'push needs the seq the file was pulled at (expectedSeq), or force',
    )
  }
  const keys = new DatabaseKeys(prefix)
  const { signal } = options
  const expectedHead = guard.force
    ? undefined
    : (guard.expectedHead ?? (await pulledHead(file, prefix, guard.expectedSeq)))
  const dir = await mkdtemp(join(tmpdir(), 's3db-push-'))
  try {
    const copy = await cleanCopyOfUserFile(resolve(file), dir)
    const publisher = storePublisher(store, keys, options.runtime)
    const current = await publisher.read()
    // Without force, the file must be based on the current state; with force it
    // replaces whatever is there, as a new commit (seq + 1) others sync to.
    const allowed = (m: Manifest) =>
      guard.force ||
      (m.seq === guard.expectedSeq &&
        (expectedHead === undefined ||
          sameHistory(m, { seq: guard.expectedSeq, head: expectedHead })))
    if (!allowed(current.manifest))
      throw new SeqMismatchError(guard.expectedSeq!, current.manifest.seq)
    const size = (await stat(copy)).size
    nextSeq(current.manifest) // at the last seq: refused before anything is uploaded
    // An upload older than the publish window must not be published (GC may
    // already count it as an orphan): upload again, a few times at most.
    for (let upload = 1; ; upload++) {
      const snapshotKey = keys.snapshot(publisher.runtime.newId())
      const replace = (m: Manifest): Manifest | undefined => {
        if (!allowed(m)) return undefined
        const seq = nextSeq(m)
        return { ...m, seq, snapshot: { key: snapshotKey, seq, size }, log: [] }
      }
      const uploadedAt = publisher.runtime.monotonic()
      await uploadSnapshot(store, snapshotKey, copy, options)
      const base = upload === 1 ? current : await publisher.read()
      const next = replace(base.manifest)
      if (!next) throw new SeqMismatchError(guard.expectedSeq!, base.manifest.seq)
      const outcome = await publishManifest(publisher, {
        base,
        next,
        own: { key: snapshotKey, uploadedAt },
        rebase: replace,
        maxConflicts: guard.force ? 100 : 10,
        signal,
      })
      if (outcome.committed) return { seq: outcome.seq, snapshotKey, bytes: size }
      if (outcome.reason === 'conflict') {
        if (guard.force) throw new WriteConflictError(100)
        throw new SeqMismatchError(guard.expectedSeq, outcome.current.manifest.seq)
      }
      if (upload >= 3) {
        throw new StoreUnavailableError(
          'push: the snapshot upload kept outlasting the publish window (60 s between upload and publish); nothing was published, run push again',
          { maybeApplied: false },
        )
      }
    }
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
}
