/**
 * Producing and checking SQLite database files: snapshots s3db uploads and
 * files users hand to init/push.
 *
 * @module
 */
import { randomBytes } from 'node:crypto'
import { open, unlink } from 'node:fs/promises'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import { InvalidArgumentError } from './errors.js'

/** The 16 bytes every SQLite database file starts with. */
export const SQLITE_HEADER = Buffer.from('SQLite format 3\0', 'latin1')

/**
 * Marks a database image as rollback-journal mode (header bytes 18-19 = 1), as
 * `PRAGMA journal_mode=DELETE` would: a snapshot taken from a WAL replica opens
 * anywhere, including read-only and in memory.
 */
export function asRollbackJournal(image: Uint8Array): Uint8Array {
  if (image.byteLength >= 100 && image[18] === 2 && image[19] === 2) {
    image[18] = 1
    image[19] = 1
  }
  return image
}

/** Patches the journal-mode bytes of a database file in place (see {@link asRollbackJournal}). */
async function fileAsRollbackJournal(path: string): Promise<void> {
  const handle = await open(path, 'r+')
  try {
    const head = Buffer.alloc(20)
    await handle.read(head, 0, 20, 0)
    if (head[18] === 2 && head[19] === 2) await handle.write(Buffer.from([1, 1]), 0, 2, 18)
  } finally {
    await handle.close()
  }
}

/**
 * Writes a clean, self-contained copy of `db` (VACUUM INTO: committed state
 * only, WAL folded in, no free pages) to a new temp file in `dir`.
 */
export async function vacuumInto(db: Database.Database, dir: string): Promise<string> {
  const path = join(dir, `.s3db-snapshot-${randomBytes(8).toString('hex')}.sqlite`)
  // VACUUM INTO gives the new file the connection's page cache size, and holds
  // up to that much of both files in memory (better-sqlite3's 16 MB each: ~33
  // MiB whatever the database size). A small cache keeps it near 1 MiB (bench:
  // ddl-memory).
  const cacheSize = db.pragma('cache_size', { simple: true }) as number
  db.pragma('cache_size = 256')
  try {
    try {
      db.prepare('VACUUM INTO ?').run(path)
    } finally {
      db.pragma(`cache_size = ${cacheSize}`)
    }
    await fileAsRollbackJournal(path)
    return path
  } catch (err) {
    await unlink(path).catch(() => {})
    throw err
  }
}

/**
 * Checks that `path` is a readable SQLite database (header, schema, quick_check)
 * and writes a clean copy of it (WAL folded in) to a temp file in `dir`.
 * Throws InvalidArgumentError with a clear reason otherwise.
 */
export async function cleanCopyOfUserFile(path: string, dir: string): Promise<string> {
  const handle = await open(path, 'r').catch((err: NodeJS.ErrnoException) => {
    throw new InvalidArgumentError(
      `cannot read ${path}: ${err.code === 'ENOENT' ? 'no such file' : err.message}`,
    )
  })
  try {
    const head = Buffer.alloc(16)
    const { bytesRead } = await handle.read(head, 0, 16, 0)
    if (bytesRead < 16 || !head.equals(SQLITE_HEADER)) {
      throw new InvalidArgumentError(
        `${path} is not a SQLite database (its first bytes are not "SQLite format 3")`,
      )
    }
  } finally {
    await handle.close()
  }
  let db: Database.Database
  try {
    db = new Database(path, { readonly: true, fileMustExist: true })
  } catch (err) {
    throw new InvalidArgumentError(
      `${path} cannot be opened as a SQLite database: ${(err as Error).message}`,
    )
  }
  try {
    const check = db.pragma('quick_check', { simple: true })
    if (check !== 'ok')
      throw new InvalidArgumentError(`${path} fails SQLite's quick_check: ${String(check)}`)
    return await vacuumInto(db, dir)
  } catch (err) {
    if (err instanceof InvalidArgumentError) throw err
    throw new InvalidArgumentError(
      `${path} is not a usable SQLite database: ${(err as Error).message}`,
    )
  } finally {
    db.close()
  }
}

/** Bytes of an empty database (one page, rollback mode): the seed of a fresh database. */
export function emptyDatabaseImage(): Uint8Array {
  const db = new Database(':memory:')
  try {
    db.pragma('page_size = 4096')
    db.exec('VACUUM')
    return asRollbackJournal(db.serialize())
  } finally {
    db.close()
  }
}
