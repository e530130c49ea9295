import { lstat, mkdir, mkdtemp, rename, rm, unlink } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import Database from 'better-sqlite3'
import { ChangeCapture } from '../changeset/index.js'
import { S3dbError } from '../errors.js'
import { type HeldLock, tryLockFile } from '../store/file-lock.js'
import { errnoOf, fromOsError, fromSqliteError, symlinkRefused } from '../util/os-error.js'
import { PositionFile, type ReplicaPosition } from './position.js'
import { sweepStaleTempReplicasOnce, TEMP_REPLICA_FILE, TEMP_REPLICA_PREFIX } from './temp-sweep.js'

/** Files SQLite keeps beside a replica (WAL mode, and a rollback journal if ever used). */
const SQLITE_COMPANIONS = ['-wal', '-shm', '-journal'] as const

/** The replica each open connection belongs to, so a query that meets damage can report it. */
const owners = new WeakMap<Database.Database, LocalReplica>()

/** True for SQLite's errors that mean the database file itself is damaged. */
export function isSqliteDamage(err: unknown): boolean {
  const code = (err as { code?: unknown })?.code
  return typeof code === 'string' && (code.startsWith('SQLITE_CORRUPT') || code === 'SQLITE_NOTADB')
}

/**
 * SQLite found the replica file behind `db` damaged: its replica forgets its
 * position, so the next sync rebuilds it from the store (and so does a later
 * open of the same localPath).
 */
export function reportDamagedReplica(db: Database.Database): void {
  owners.get(db)?.markDamaged()
}

/** Another process (or another open S3db) is using this localPath. */
export class LocalCacheLockedError extends S3dbError {
  readonly path: string
  constructor(path: string) {
    super(
      'LocalCacheLocked',
      `local replica ${path} is in use by another process or S3db instance; give each process its own localPath`,
    )
    this.path = path
  }
}

/**
 * The local SQLite replica: one file (WAL mode) with a writer connection that
 * carries change capture and a query-only reader connection, a sidecar recording
 * its position, and an exclusive lock so no two processes share it.
 *
 * The lock is two flocks, each checked to be on the file now at its path:
 * `<path>.lock` and the position sidecar `<path>.s3db-position` (held open
 * anyway). Deleting either file while the replica is open does not let a second
 * opener in: it still finds the other one locked.
 */
export class LocalReplica {
  readonly path: string
  readonly #databaseId: string
  readonly #tempDir: string | undefined
  readonly #lock: HeldLock
  readonly #positionLock: HeldLock
  readonly #positionFile: PositionFile
  #writer: Database.Database
  #reader: Database.Database
  #capture: ChangeCapture
  /** Extra reader connections for views that overlap (async callbacks). */
  #idleReaders: Database.Database[] = []
  #readerBusy = false
  /** The reader holds a read transaction open between {@link readNow} calls. */
  #held = false
  #position: ReplicaPosition | undefined
  /** The pending mark written after damage was reported (awaited before the next change). */
  #damageMarked: Promise<void> = Promise.resolve()

  private constructor(
    path: string,
    databaseId: string,
    tempDir: string | undefined,
    lock: HeldLock,
    positionLock: HeldLock,
    positionFile: PositionFile,
  ) {
    this.path = path
    this.#databaseId = databaseId
    this.#tempDir = tempDir
    this.#lock = lock
    this.#positionLock = positionLock
    this.#positionFile = positionFile
    const recorded = positionFile.position
    this.#position = recorded?.database === databaseId ? recorded : undefined
    ;({
      writer: this.#writer,
      reader: this.#reader,
      capture: this.#capture,
    } = openConnections(path))
    owners.set(this.#writer, this)
    owners.set(this.#reader, this)
  }

  /**
   * Opens the replica at `localPath` (a temp file when omitted, removed on close;
   * the first such open in a process also removes temp replicas that killed
   * processes left behind). Throws {@link LocalCacheLockedError} at once if
   * another holder has it, `InvalidArgument` when a symlink (or a non-file) sits
   * where one of the replica's files goes, `AccessDenied` or `LocalStorageFull`
   * when the OS refuses to create them.
   */
  static async open(localPath: string | undefined, databaseId: string): Promise<LocalReplica> {
    let tempDir: string | undefined
    let path: string
    try {
      if (localPath === undefined) {
        await sweepStaleTempReplicasOnce()
        tempDir = await mkdtemp(join(tmpdir(), TEMP_REPLICA_PREFIX))
      }
      path = resolve(localPath ?? join(tempDir!, TEMP_REPLICA_FILE))
      // A cache directory that does not exist yet is created (owner-only).
      await mkdir(dirname(path), { recursive: true, mode: 0o700 })
    } catch (err) {
      if (tempDir) await rm(tempDir, { recursive: true, force: true })
      throw fromOsError(err, 'create the local replica directory', localPath ?? tmpdir())
    }
    const held: HeldLock[] = []
    try {
      for (const lockPath of [`${path}.lock`, `${path}.s3db-position`]) {
        const lock = await tryLockFile(lockPath, { write: true })
        if (!lock) throw new LocalCacheLockedError(path)
        held.push(lock)
      }
      const [lock, positionLock] = held as [HeldLock, HeldLock]
      // SQLite follows a symlink at the database path (and creates its -wal and
      // -shm beside the target): refuse one at any of the names before it opens.
      await refuseSymlinks(path)
      const positionFile = await PositionFile.read(`${path}.s3db-position`, positionLock.handle)
      if (positionFile.position === undefined) await discardFiles(path)
      try {
        return new LocalReplica(path, databaseId, tempDir, lock, positionLock, positionFile)
      } catch (err) {
        if (!isSqliteDamage(err)) throw err
        // A replica file that is not a database any more: start over from the store.
        await positionFile.markPending()
        await discardFiles(path)
        return new LocalReplica(path, databaseId, tempDir, lock, positionLock, positionFile)
      }
    } catch (err) {
      for (const lock of held.reverse()) await lock.release()
      if (tempDir) await rm(tempDir, { recursive: true, force: true })
      throw fromOsError(err, 'create the local replica', path)
    }
  }

  /** The writer connection (change capture attached). */
  get writer(): Database.Database {
    return this.#writer
  }

  /**
   * Lends a query-only connection for one view; give it back with
   * {@link releaseReader}. Overlapping views get connections of their own.
   */
  acquireReader(): Database.Database {
    if (!this.#readerBusy) {
      this.#dropHeld()
      this.#readerBusy = true
      return this.#reader
    }
    const db = this.#idleReaders.pop() ?? openReader(this.path)
    owners.set(db, this)
    return db
  }

  releaseReader(db: Database.Database): void {
    if (db === this.#reader) this.#readerBusy = false
    else if (!db.open) return
    else if (this.#idleReaders.length < 4) this.#idleReaders.push(db)
    else db.close()
  }

  /**
   * Runs a synchronous read `fn` on the committed state. On the reader it runs in
   * a read transaction that stays open afterwards, until the committed state
   * changes ({@link advance}, {@link install}, {@link commitInPlace}) or the
   * reader is lent to a view: a point read then skips SQLite's per-transaction
   * WAL locking, about two thirds of its cost. Only this process's writer
   * connection changes the replica (the file is locked to this instance), and
   * every change of its committed state comes through those methods.
   */
  readNow<T>(fn: (db: Database.Database) => T): T {
    if (this.#readerBusy) {
      const db = this.acquireReader()
      try {
        return fn(db)
      } finally {
        this.releaseReader(db)
      }
    }
    const reader = this.#reader
    if (!this.#held || !reader.inTransaction) {
      this.#dropHeld()
      reader.exec('BEGIN')
      this.#held = true
    }
    this.#readerBusy = true
    try {
      return fn(reader)
    } finally {
      this.#readerBusy = false
    }
  }

  /**
   * Commits the writer's open transaction without moving the position: for a
   * transaction whose net effect is nil.
   */
  commitInPlace(): void {
    this.#dropHeld()
    this.#writer.exec('COMMIT')
  }

  /**
   * Ends the reader's held read transaction, if it holds one: before every
   * change of the committed state (it would show the past), and before the
   * reader is lent to a view (which opens its own).
   */
  #dropHeld(): void {
    if (!this.#held) return
    this.#held = false
    if (this.#reader.open && this.#reader.inTransaction) this.#reader.exec('ROLLBACK')
  }

  get capture(): ChangeCapture {
    return this.#capture
  }

  /** Where the committed state stands, or undefined when unknown (must rebuild). */
  get position(): ReplicaPosition | undefined {
    return this.#position
  }

  /** Directory for temp files (same filesystem as the replica, so renames are atomic). */
  get dir(): string {
    return dirname(this.path)
  }

  /**
   * Changes the replica's committed state: marks the position pending (durably),
   * runs `mutate` (which commits on the writer), then records `to`. If `mutate`
   * throws, the position stays unknown (the next sync rebuilds).
   */
  async advance(to: Omit<ReplicaPosition, 'database'>, mutate: () => void): Promise<void> {
    await this.#damageMarked
    await this.#positionFile.markPending()
    this.#position = undefined
    // Nothing can read between this and the commit (`mutate` is synchronous),
    // and the commit's checkpoint is not held back by the reader.
    this.#dropHeld()
    mutate()
    await this.#record(to)
  }

  /**
   * Replaces the replica file with `file` (a complete database at `at`),
   * atomically: connections are closed, stale WAL files removed, the file renamed
   * into place and connections reopened.
   */
  async install(file: string, at: Omit<ReplicaPosition, 'database'>): Promise<void> {
    await this.#damageMarked
    await this.#positionFile.markPending()
    this.#position = undefined
    this.#closeConnections()
    // A WAL left from the old file must never be replayed onto the new one.
    await discardFiles(this.path)
    await rename(file, this.path)
    ;({
      writer: this.#writer,
      reader: this.#reader,
      capture: this.#capture,
    } = openConnections(this.path))
    owners.set(this.#writer, this)
    owners.set(this.#reader, this)
    await this.#record(at)
  }

  /** Forgets the position: the next sync rebuilds from the store. */
  async invalidate(): Promise<void> {
    await this.#damageMarked
    await this.#positionFile.markPending()
    this.#position = undefined
  }

  /**
   * Forgets the position at once, and durably in the background: SQLite found
   * the file damaged, so the next sync (or a later open) rebuilds it.
   */
  markDamaged(): void {
    this.#position = undefined
    this.#damageMarked = this.#damageMarked
      .then(() => this.#positionFile.markPending())
      .catch(() => {})
  }

  async close(): Promise<void> {
    await this.#damageMarked
    this.#closeConnections()
    await this.#positionLock.release()
    await this.#lock.release()
    if (this.#tempDir) await rm(this.#tempDir, { recursive: true, force: true })
  }

  async #record(at: Omit<ReplicaPosition, 'database'>): Promise<void> {
    const position = { database: this.#databaseId, seq: at.seq, head: at.head }
    await this.#positionFile.write(position)
    this.#position = position
  }

  #closeConnections(): void {
    this.#dropHeld()
    this.#capture.close()
    for (const db of this.#idleReaders) db.close()
    this.#idleReaders = []
    if (this.#reader.open) this.#reader.close()
    if (this.#writer.open) this.#writer.close()
  }
}

/** Opens the writer and the reader; on failure closes whatever it opened (no leaked descriptor). */
function openConnections(path: string): {
  writer: Database.Database
  reader: Database.Database
  capture: ChangeCapture
} {
  const opened: Database.Database[] = []
  try {
    const writer = new Database(path)
    opened.push(writer)
    writer.pragma('journal_mode = WAL')
    // FULL: a commit is durable before the position sidecar says so.
    writer.pragma('synchronous = FULL')
    writer.pragma('foreign_keys = ON')
    const reader = openReader(path)
    opened.push(reader)
    return { writer, reader, capture: new ChangeCapture(writer) }
  } catch (err) {
    for (const db of opened.reverse()) db.close()
    throw fromSqliteError(err, path)
  }
}

function openReader(path: string): Database.Database {
  const reader = new Database(path)
  reader.pragma('query_only = ON')
  reader.pragma('foreign_keys = ON')
  return reader
}

/** Removes the replica file and its WAL/SHM companions. */
async function discardFiles(path: string): Promise<void> {
  for (const suffix of ['', ...SQLITE_COMPANIONS]) {
    await unlink(path + suffix).catch((err: NodeJS.ErrnoException) => {
      if (err.code !== 'ENOENT') throw err
    })
  }
}

/** Throws when the replica file or a companion SQLite would create beside it is a symlink. */
async function refuseSymlinks(path: string): Promise<void> {
  for (const suffix of ['', ...SQLITE_COMPANIONS]) {
    const st = await lstat(path + suffix).catch((err: unknown) => {
      if (errnoOf(err) === 'ENOENT') return undefined
      throw err
    })
    if (st?.isSymbolicLink()) throw symlinkRefused(path + suffix)
  }
}
