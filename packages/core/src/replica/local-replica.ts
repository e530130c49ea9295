import { mkdir, mkdtemp, rename, rm, unlink } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import Database from 'better-sqlite3'
import { ChangeCapture } from '../changeset/index.js'
import { S3dbError } from '../errors.js'
import { type HeldLock, tryLockFile } from '../store/file-lock.js'
import { PositionFile, type ReplicaPosition } from './position.js'

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
 */
export class LocalReplica {
  readonly path: string
  readonly #databaseId: string
  readonly #tempDir: string | undefined
  readonly #lock: HeldLock
  readonly #positionFile: PositionFile
  #writer: Database.Database
  #reader: Database.Database
  #capture: ChangeCapture
  /** Extra reader connections for views that overlap (async callbacks). */
  #idleReaders: Database.Database[] = []
  #readerBusy = false
  #position: ReplicaPosition | undefined

  private constructor(
    path: string,
    databaseId: string,
    tempDir: string | undefined,
    lock: HeldLock,
    positionFile: PositionFile,
  ) {
    this.path = path
    this.#databaseId = databaseId
    this.#tempDir = tempDir
    this.#lock = lock
    this.#positionFile = positionFile
    const recorded = positionFile.position
    this.#position = recorded?.database === databaseId ? recorded : undefined
    ;({
      writer: this.#writer,
      reader: this.#reader,
      capture: this.#capture,
    } = openConnections(path))
  }

  /**
   * Opens the replica at `localPath` (a temp file when omitted, removed on close).
   * Throws {@link LocalCacheLockedError} at once if another holder has it.
   */
  static async open(localPath: string | undefined, databaseId: string): Promise<LocalReplica> {
    const tempDir =
      localPath === undefined ? await mkdtemp(join(tmpdir(), 's3db-replica-')) : undefined
    const path = resolve(localPath ?? join(tempDir!, 'replica.sqlite'))
    // A cache directory that does not exist yet is created (owner-only).
    await mkdir(dirname(path), { recursive: true, mode: 0o700 })
    const lock = await tryLockFile(`${path}.lock`).catch(async (err: unknown) => {
      if (tempDir) await rm(tempDir, { recursive: true, force: true })
      throw err
    })
    if (!lock) throw new LocalCacheLockedError(path)
    try {
      const positionFile = await PositionFile.open(`${path}.s3db-position`)
      if (positionFile.position === undefined) await discardFiles(path)
      return new LocalReplica(path, databaseId, tempDir, lock, positionFile)
    } catch (err) {
      await lock.release()
      if (tempDir) await rm(tempDir, { recursive: true, force: true })
      throw err
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
      this.#readerBusy = true
      return this.#reader
    }
    return this.#idleReaders.pop() ?? openReader(this.path)
  }

  releaseReader(db: Database.Database): void {
    if (db === this.#reader) this.#readerBusy = false
    else if (!db.open) return
    else if (this.#idleReaders.length < 4) this.#idleReaders.push(db)
    else db.close()
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
    await this.#positionFile.markPending()
    this.#position = undefined
    mutate()
    await this.#record(to)
  }

  /**
   * Replaces the replica file with `file` (a complete database at `at`),
   * atomically: connections are closed, stale WAL files removed, the file renamed
   * into place and connections reopened.
   */
  async install(file: string, at: Omit<ReplicaPosition, 'database'>): Promise<void> {
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
    await this.#record(at)
  }

  /** Forgets the position: the next sync rebuilds from the store. */
  async invalidate(): Promise<void> {
    await this.#positionFile.markPending()
    this.#position = undefined
  }

  async close(): Promise<void> {
    this.#closeConnections()
    await this.#positionFile.close()
    await this.#lock.release()
    if (this.#tempDir) await rm(this.#tempDir, { recursive: true, force: true })
  }

  async #record(at: Omit<ReplicaPosition, 'database'>): Promise<void> {
    const position = { database: this.#databaseId, seq: at.seq, head: at.head }
    await this.#positionFile.write(position)
    this.#position = position
  }

  #closeConnections(): void {
    this.#capture.close()
    for (const db of this.#idleReaders) db.close()
    this.#idleReaders = []
    if (this.#reader.open) this.#reader.close()
    if (this.#writer.open) this.#writer.close()
  }
}

function openConnections(path: string): {
  writer: Database.Database
  reader: Database.Database
  capture: ChangeCapture
} {
  const writer = new Database(path)
  writer.pragma('journal_mode = WAL')
  // FULL: a commit is durable before the position sidecar says so.
  writer.pragma('synchronous = FULL')
  writer.pragma('foreign_keys = ON')
  return { writer, reader: openReader(path), capture: new ChangeCapture(writer) }
}

function openReader(path: string): Database.Database {
  const reader = new Database(path)
  reader.pragma('query_only = ON')
  reader.pragma('foreign_keys = ON')
  return reader
}

/** Removes the replica file and its WAL/SHM companions. */
async function discardFiles(path: string): Promise<void> {
  for (const suffix of ['', '-wal', '-shm', '-journal']) {
    await unlink(path + suffix).catch((err: NodeJS.ErrnoException) => {
      if (err.code !== 'ENOENT') throw err
    })
  }
}
