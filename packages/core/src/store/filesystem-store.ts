import { createHash, randomBytes } from 'node:crypto'
import type { Stats } from 'node:fs'
import { constants } from 'node:fs'
import type { FileHandle } from 'node:fs/promises'
import {
  copyFile,
  link,
  lstat,
  mkdir,
  open,
  readdir,
  realpath,
  rename,
  rmdir,
  stat,
  unlink,
} from 'node:fs/promises'
import { join, resolve } from 'node:path'
import {
  InvalidArgumentError,
  NotFoundError,
  PreconditionFailedError,
  S3dbError,
  StoreUnavailableError,
  throwIfAborted,
} from '../errors.js'
import { errnoOf, fromOsError } from '../util/os-error.js'
import { openOwnDirectory } from '../util/safe-open.js'
import type {
  BlobData,
  BlobInfo,
  BlobStore,
  BlobStream,
  CallOptions,
  GetOptions,
  ListEntry,
  NotModified,
  PutBody,
  PutOptions,
} from './blob-store.js'
import { bodyChunks, normalizeEtag } from './body.js'
import { FileLock } from './file-lock.js'
import { validateKey, validatePrefix } from './keys.js'
import { clampRange } from './range.js'
import { assertOneCondition, checkMaxBytes, compareKeys, deleteListed } from './store-util.js'

/** Lock file taken for conditional writes and deletes (same name as the Go store). */
const LOCK_NAME = '.s3db.lock'
/** Files at least this large have their ETag cached by file identity. */
const ETAG_CACHE_MIN_BYTES = 1024 * 1024
/** Basename prefix of in-flight temp files (same as the Go store). */
const TMP_PREFIX = '.s3db-tmp-'

/**
 * The embedded default store: key `K` lives at `<root>/K`, the layout the Go
 * s3db's filesystem store uses, so either can read a directory the other wrote.
 *
 * Safe for many processes on one machine: conditional writes and deletes are
 * serialized by flock(2) on `<root>/.s3db.lock` (what the Go store locks) and on
 * the root directory itself (which, unlike the lock file, cannot be deleted or
 * swapped while it holds objects); both are released by the kernel when a holder
 * dies. Bodies are written to a temp file, fsynced and renamed into place, so
 * readers (which never lock) see the old or the new object, never a torn one.
 * ETags are the MD5 of the content, as S3 computes them for simple uploads.
 *
 * Keys cannot leave the root: `..`, absolute paths, NUL and backslashes are
 * rejected, and a symlink anywhere below the root (the lock file included) is
 * refused rather than followed. OS errors come out typed: a full disk as
 * `LocalStorageFull`, a permission or read-only file system as `AccessDenied`, a
 * root that was deleted or unmounted as a non-retryable `StoreUnavailable`.
 * Local filesystems only: advisory locks are not reliable over NFS, SMB or FUSE.
 */
export class FileSystemBlobStore implements BlobStore {
  /** Absolute, symlink-resolved root directory. */
  readonly root: string
  /** Device and inode of the root when opened: tells a vanished or replaced root. */
  readonly #rootId: string
  readonly #lock: FileLock
  /**
   * ETags of large files by identity (device, inode, size, mtime): hashing a
   * 100 MB snapshot on every read would double its cost. Small files (the
   * manifest, whose ETag drives compare-and-swap) are always hashed, so inode
   * reuse on a filesystem with coarse timestamps can never fool a CAS. The
   * promise is cached, so parallel ranged reads of one file hash it once.
   */
  readonly #etags = new Map<string, Promise<string>>()

  private constructor(root: string, rootId: string) {
    this.root = root
    this.#rootId = rootId
    this.#lock = new FileLock([
      { path: join(root, LOCK_NAME), kind: 'file' },
      { path: root, kind: 'directory' },
    ])
  }

  /** Opens (creating if needed, mode 0700) a store rooted at `dir`. */
  static async open(dir: string): Promise<FileSystemBlobStore> {
    if (typeof dir !== 'string' || dir === '' || dir.includes('\0')) {
      throw new InvalidArgumentError('filesystem store directory must be a non-empty path')
    }
    const abs = resolve(dir)
    try {
      await mkdir(abs, { recursive: true, mode: 0o700 })
      const root = await realpath(abs)
      const st = await stat(root)
      if (!st.isDirectory()) {
        throw new InvalidArgumentError(`filesystem store root ${root} is not a directory`)
      }
      return new FileSystemBlobStore(root, `${st.dev}:${st.ino}`)
    } catch (err) {
      if (errnoOf(err) === 'EEXIST' || errnoOf(err) === 'ENOTDIR') {
        throw new InvalidArgumentError(`filesystem store root ${abs} is not a directory`, {
          cause: err,
        })
      }
      throw fromOsError(err, 'create the store directory', abs)
    }
  }

  async get(key: string, options: GetOptions = {}): Promise<BlobData | NotModified> {
    const file = await this.#openBlob(key, options.signal)
    try {
      if (options.maxBytes !== undefined && file.stats.size > options.maxBytes) {
        // Refused before anything is allocated, unless unchanged (the hash streams).
        if (options.ifNoneMatch !== undefined) {
          const etag = await this.#etagOf(file.handle, file.stats)
          if (normalizeEtag(options.ifNoneMatch) === etag) return { notModified: true, etag }
        }
        checkMaxBytes(key, file.stats.size, options.maxBytes)
      }
      const body = new Uint8Array(file.stats.size)
      let read = 0
      while (read < body.byteLength) {
        const { bytesRead } = await file.handle.read(body, read, body.byteLength - read, read)
        if (bytesRead === 0) break
        read += bytesRead
      }
      const whole = body.subarray(0, read)
      const etag = createHash('md5').update(whole).digest('hex')
      if (options.ifNoneMatch !== undefined && normalizeEtag(options.ifNoneMatch) === etag) {
        return { notModified: true, etag }
      }
      const [start, end] = options.range ? clampRange(options.range, read) : [0, read]
      return {
        notModified: false,
        etag,
        size: read,
        lastModified: file.stats.mtime,
        body: start === 0 && end === read ? whole : whole.slice(start, end),
      }
    } finally {
      await file.handle.close()
    }
  }

  async getStream(key: string, options: GetOptions = {}): Promise<BlobStream | NotModified> {
    const file = await this.#openBlob(key, options.signal)
    let streaming = false
    try {
      // The ETag comes from the same descriptor as the body: a concurrent rename
      // cannot make them disagree.
      const etag = await this.#etagOf(file.handle, file.stats)
      if (options.ifNoneMatch !== undefined && normalizeEtag(options.ifNoneMatch) === etag) {
        return { notModified: true, etag }
      }
      const size = file.stats.size
      checkMaxBytes(key, size, options.maxBytes)
      const [start, end] = options.range ? clampRange(options.range, size) : [0, size]
      if (end <= start)
        return {
          notModified: false,
          etag,
          size,
          lastModified: file.stats.mtime,
          body: emptyStream(),
        }
      const body = file.handle.createReadStream({
        start,
        end: end - 1,
        autoClose: true,
        highWaterMark: 1 << 20,
      })
      streaming = true
      return { notModified: false, etag, size, lastModified: file.stats.mtime, body }
    } finally {
      if (!streaming) await file.handle.close()
    }
  }

  async stat(key: string, options: CallOptions = {}): Promise<BlobInfo> {
    const file = await this.#openBlob(key, options.signal)
    try {
      const etag = await this.#etagOf(file.handle, file.stats)
      return { etag, size: file.stats.size, lastModified: file.stats.mtime }
    } finally {
      await file.handle.close()
    }
  }

  async put(key: string, body: PutBody, options: PutOptions = {}): Promise<{ etag: string }> {
    this.#validate(key)
    assertOneCondition(options)
    throwIfAborted(options.signal)
    try {
      return await this.#put(key, body, options)
    } catch (err) {
      throw await this.#typed(err, 'write', key)
    }
  }

  async #put(key: string, body: PutBody, options: PutOptions): Promise<{ etag: string }> {
    const path = join(this.root, key)
    // Stage the body before taking the lock, as S3 uploads before it evaluates
    // the condition; the lock is then held only for a hash check and a rename.
    const { dir, tmp, etag } = await this.#stage(key, body, options.signal)
    let staged = true
    try {
      await this.#lock.withLock(async () => {
        throwIfAborted(options.signal)
        const current = await this.#currentEtag(key, path, options)
        if (options.ifNoneMatch && current !== undefined) throw new PreconditionFailedError(key)
        if (options.ifMatch !== undefined && current !== normalizeEtag(options.ifMatch)) {
          throw new PreconditionFailedError(key)
        }
        // The parents were checked before staging; a directory swapped for a symlink
        // since then must not redirect the rename out of the root.
        await this.#checkNoSymlinks(key, false)
        await rename(tmp, path)
        staged = false
      }, options.signal)
      await fsyncDir(dir)
      return { etag }
    } finally {
      if (staged) await unlink(tmp).catch(() => {})
    }
  }

  /**
   * Copies an object as a hard link (a plain copy where links are refused):
   * no bytes are written, and deleting either name leaves the other, since the
   * store never changes a file in place (a put renames a new file over the name).
   */
  async copy(from: string, to: string, options: CallOptions = {}): Promise<{ etag: string }> {
    this.#validate(to)
    const source = await this.#openBlob(from, options.signal)
    try {
      const etag = await this.#etagOf(source.handle, source.stats)
      for (let attempt = 0; ; attempt++) {
        const dir = await this.#ensureParent(to)
        const tmp = join(dir, TMP_PREFIX + randomBytes(12).toString('hex'))
        try {
          try {
            await link(join(this.root, from), tmp)
          } catch (err) {
            if (!isErrno(err, 'EXDEV') && !isErrno(err, 'EPERM') && !isErrno(err, 'EMLINK'))
              throw err
            await copyFile(join(this.root, from), tmp, constants.COPYFILE_EXCL)
          }
          await this.#lock.withLock(async () => {
            throwIfAborted(options.signal)
            await this.#checkNoSymlinks(to, false)
            await rename(tmp, join(this.root, to))
          }, options.signal)
          await fsyncDir(dir)
          return { etag }
        } catch (err) {
          await unlink(tmp).catch(() => {})
          if (isErrno(err, 'ENOENT') && attempt < 5 && (await this.#exists(from))) continue
          throw await this.#typed(err, 'write', to)
        }
      }
    } finally {
      await source.handle.close()
    }
  }

  async #exists(key: string): Promise<boolean> {
    return lstat(join(this.root, key)).then(
      (st) => st.isFile(),
      () => false,
    )
  }

  async *list(prefix: string, options: CallOptions = {}): AsyncIterable<ListEntry> {
    validatePrefix(prefix)
    throwIfAborted(options.signal)
    const slash = prefix.lastIndexOf('/')
    const base = slash < 0 ? '' : prefix.slice(0, slash)
    const found: ListEntry[] = []
    await this.#walk(base, prefix, found, options.signal)
    // An empty listing from a store whose directory vanished must not read as "no objects".
    if (found.length === 0 && (await this.#rootGone())) this.#throwRootGone()
    found.sort((a, b) => compareKeys(a.key, b.key))
    yield* found
  }

  async delete(key: string, options: CallOptions = {}): Promise<void> {
    this.#validate(key)
    throwIfAborted(options.signal)
    try {
      await this.#checkNoSymlinks(key, false)
      await this.#lock.withLock(async () => {
        await this.#checkNoSymlinks(key, false)
        try {
          await unlink(join(this.root, key))
        } catch (err) {
          // EISDIR (Linux) and EPERM (macOS): the key names a directory, so no object.
          if (isErrno(err, 'ENOENT') || isErrno(err, 'EISDIR')) return
          if (
            isErrno(err, 'EPERM') &&
            (await lstat(join(this.root, key)).catch(() => undefined))?.isDirectory()
          )
            return
          throw err
        }
      }, options.signal)
    } catch (err) {
      throw await this.#typed(err, 'delete', key)
    }
    await this.#pruneEmptyDirs(key)
  }

  async deleteMany(keys: readonly string[], options: CallOptions = {}): Promise<void> {
    for (const key of keys) this.#validate(key)
    for (const key of keys) await this.delete(key, options)
  }

  deletePrefix(prefix: string, options?: CallOptions): Promise<number> {
    return deleteListed(this, prefix, options)
  }

  /**
   * Removes temp files left by writers that crashed mid-put, older than
   * `olderThanMs` (default one hour, so in-flight puts are never touched).
   * Returns how many were removed.
   */
  async cleanTempFiles(olderThanMs = 3_600_000): Promise<number> {
    let removed = 0
    const cutoff = Date.now() - olderThanMs
    const visit = async (dir: string): Promise<void> => {
      const entries = await readdir(dir, { withFileTypes: true }).catch(() => [])
      for (const entry of entries) {
        const path = join(dir, entry.name)
        if (entry.isDirectory()) await visit(path)
        else if (entry.isFile() && entry.name.startsWith(TMP_PREFIX)) {
          const st = await lstat(path).catch(() => undefined)
          if (st && st.mtimeMs < cutoff) {
            await unlink(path).catch(() => {})
            removed++
          }
        }
      }
    }
    await visit(this.root)
    return removed
  }

  /** Releases the lock file descriptor. */
  async close(): Promise<void> {
    await this.#lock.close()
  }

  /** True when the root directory was deleted, unmounted or replaced since open. */
  async #rootGone(): Promise<boolean> {
    const st = await lstat(this.root).catch(() => undefined)
    return !st?.isDirectory() || `${st.dev}:${st.ino}` !== this.#rootId
  }

  #throwRootGone(): never {
    throw this.#rootGoneError(undefined)
  }

  #rootGoneError(cause: unknown): S3dbError {
    return new StoreUnavailableError(
      `the filesystem store's directory ${this.root} no longer exists (deleted, moved or unmounted); restore it or open the store again`,
      { maybeApplied: false, retryable: false, cause },
    )
  }

  /** The typed error for a failed write or delete of `key` (temp files are already removed). */
  async #typed(err: unknown, action: string, key: string): Promise<unknown> {
    if (err instanceof S3dbError) return err
    if ((isErrno(err, 'ENOENT') || isErrno(err, 'ENOTDIR')) && (await this.#rootGone())) {
      return this.#rootGoneError(err)
    }
    return fromOsError(err, action, join(this.root, key))
  }

  #validate(key: string): void {
    validateKey(key)
    for (const segment of key.split('/')) {
      const lower = segment.toLowerCase()
      if (lower === LOCK_NAME || lower.startsWith(TMP_PREFIX)) {
        throw new InvalidArgumentError(`object key ${JSON.stringify(key)} uses a reserved name`)
      }
    }
  }

  /** Opens the regular file backing `key` without following symlinks. */
  async #openBlob(
    key: string,
    signal: AbortSignal | undefined,
  ): Promise<{ handle: FileHandle; stats: Stats }> {
    this.#validate(key)
    throwIfAborted(signal)
    await this.#checkNoSymlinks(key, false)
    let handle: FileHandle
    try {
      // O_NONBLOCK: a FIFO planted at the key cannot hang the open (it is refused below).
      handle = await open(
        join(this.root, key),
        constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK,
      )
    } catch (err) {
      if (isErrno(err, 'ENOENT') || isErrno(err, 'ENOTDIR')) {
        if (await this.#rootGone()) throw this.#rootGoneError(err)
        throw new NotFoundError(key)
      }
      if (isErrno(err, 'ELOOP')) throw symlinkError(key)
      throw fromOsError(err, 'read', join(this.root, key))
    }
    const stats = await handle.stat()
    if (!stats.isFile()) {
      await handle.close()
      throw new NotFoundError(key)
    }
    return { handle, stats }
  }

  async #etagOf(handle: FileHandle, stats: Stats): Promise<string> {
    if (stats.size < ETAG_CACHE_MIN_BYTES) return hashHandle(handle, stats.size)
    const id = `${stats.dev}:${stats.ino}:${stats.size}:${stats.mtimeMs}`
    let etag = this.#etags.get(id)
    if (etag === undefined) {
      etag = hashHandle(handle, stats.size)
      if (this.#etags.size >= 1024) this.#etags.delete(this.#etags.keys().next().value as string)
      this.#etags.set(id, etag)
      etag.catch(() => this.#etags.delete(id))
    }
    return etag
  }

  /** The ETag of the object now at `path`, or undefined when there is none. */
  async #currentEtag(key: string, path: string, options: PutOptions): Promise<string | undefined> {
    if (options.ifMatch === undefined && !options.ifNoneMatch) return undefined
    let handle: FileHandle
    try {
      handle = await open(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK)
    } catch (err) {
      if (isErrno(err, 'ENOENT')) return undefined
      if (isErrno(err, 'ELOOP')) throw symlinkError(key)
      throw err
    }
    try {
      const stats = await handle.stat()
      if (stats.isDirectory()) throw conflictError(key)
      if (!stats.isFile()) throw notAnObjectError(key)
      return await hashHandle(handle, stats.size)
    } finally {
      await handle.close()
    }
  }

  /** Writes the body to a temp file beside the key's final path. */
  async #stage(
    key: string,
    body: PutBody,
    signal: AbortSignal | undefined,
  ): Promise<{ dir: string; tmp: string; etag: string }> {
    for (let attempt = 0; ; attempt++) {
      const dir = await this.#ensureParent(key)
      const tmp = join(dir, TMP_PREFIX + randomBytes(12).toString('hex'))
      try {
        return { dir, tmp, etag: await writeTemp(tmp, body, signal) }
      } catch (err) {
        await unlink(tmp).catch(() => {})
        // A concurrent delete may prune the parent directory we just made: redo it.
        if (isErrno(err, 'ENOENT') && attempt < 5) continue
        throw err
      }
    }
  }

  /** Creates the key's parent directories (0700) and returns the parent path. */
  async #ensureParent(key: string): Promise<string> {
    const segments = key.split('/').slice(0, -1)
    let dir = this.root
    for (const segment of segments) {
      dir = join(dir, segment)
      try {
        await mkdir(dir, { mode: 0o700 })
      } catch (err) {
        if (!isErrno(err, 'EEXIST')) throw err
        const st = await lstat(dir)
        if (st.isSymbolicLink()) throw symlinkError(key)
        if (!st.isDirectory()) throw conflictError(key)
      }
    }
    const target = await lstat(join(this.root, key)).catch(() => undefined)
    if (target?.isSymbolicLink()) throw symlinkError(key)
    if (target?.isDirectory()) throw conflictError(key)
    return dir
  }

  /** Refuses keys whose path below the root passes through a symlink. */
  async #checkNoSymlinks(key: string, includeLast: boolean): Promise<void> {
    const segments = key.split('/')
    const upto = includeLast ? segments.length : segments.length - 1
    let path = this.root
    for (let i = 0; i < upto; i++) {
      path = join(path, segments[i]!)
      const st = await lstat(path).catch(() => undefined)
      if (!st) return
      if (st.isSymbolicLink()) throw symlinkError(key)
    }
  }

  async #walk(
    relDir: string,
    prefix: string,
    out: ListEntry[],
    signal: AbortSignal | undefined,
  ): Promise<void> {
    throwIfAborted(signal)
    const abs = relDir === '' ? this.root : join(this.root, relDir)
    if (relDir !== '') {
      // Never descend through a symlink planted below the root.
      const st = await lstat(abs).catch(() => undefined)
      if (!st?.isDirectory()) return
    }
    const entries = await readdir(abs, { withFileTypes: true }).catch(async (err: unknown) => {
      if (isErrno(err, 'ENOENT') || isErrno(err, 'ENOTDIR')) {
        if (relDir === '' || (await this.#rootGone())) throw this.#rootGoneError(err)
        return []
      }
      throw fromOsError(err, 'list', abs)
    })
    for (const entry of entries) {
      const name = entry.name
      if (name === LOCK_NAME || name.startsWith(TMP_PREFIX)) continue
      const key = relDir === '' ? name : `${relDir}/${name}`
      if (entry.isDirectory()) {
        // Descend only where keys under it can still match the prefix.
        const dirKey = `${key}/`
        if (dirKey.startsWith(prefix) || prefix.startsWith(dirKey))
          await this.#walk(key, prefix, out, signal)
      } else if (entry.isFile() && key.startsWith(prefix)) {
        const st = await lstat(join(abs, name)).catch(() => undefined)
        if (st?.isFile()) out.push({ key, size: st.size, lastModified: st.mtime })
      }
    }
  }

  /** Removes directories emptied by a delete, up to (not including) the root. */
  async #pruneEmptyDirs(key: string): Promise<void> {
    const segments = key.split('/').slice(0, -1)
    while (segments.length > 0) {
      try {
        await rmdir(join(this.root, ...segments))
      } catch {
        return // not empty (or already gone): stop
      }
      segments.pop()
    }
  }
}

/** Writes `body` to a new temp file (0600), fsyncs it and returns its MD5. */
async function writeTemp(
  path: string,
  body: PutBody,
  signal: AbortSignal | undefined,
): Promise<string> {
  if (!(body instanceof Uint8Array) && body.path !== undefined) {
    // A local file: the kernel copies it (no chunk passes through the JS heap,
    // which kept up to ~65 MiB of garbage resident for a 256 MiB snapshot).
    throwIfAborted(signal)
    await copyFile(body.path, path, constants.COPYFILE_EXCL)
    const copy = await open(path, constants.O_RDWR | constants.O_NOFOLLOW)
    try {
      await copy.chmod(0o600)
      const stats = await copy.stat()
      if (stats.size !== body.size)
        throw new Error(
          `${body.path} changed while it was copied (${stats.size} != ${body.size} bytes)`,
        )
      const etag = await hashHandle(copy, stats.size)
      await copy.sync()
      return etag
    } finally {
      await copy.close()
    }
  }
  const handle = await open(
    path,
    constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW,
    0o600,
  )
  try {
    const hash = createHash('md5')
    for await (const chunk of bodyChunks(body)) {
      throwIfAborted(signal)
      hash.update(chunk)
      let written = 0
      while (written < chunk.byteLength) {
        const { bytesWritten } = await handle.write(chunk, written, chunk.byteLength - written)
        written += bytesWritten
      }
    }
    await handle.sync()
    return hash.digest('hex')
  } finally {
    await handle.close()
  }
}

async function hashHandle(handle: FileHandle, size: number): Promise<string> {
  const hash = createHash('md5')
  const buf = Buffer.allocUnsafe(Math.min(Math.max(size, 1), 1 << 20))
  let pos = 0
  for (;;) {
    const { bytesRead } = await handle.read(buf, 0, buf.byteLength, pos)
    if (bytesRead === 0) break
    hash.update(buf.subarray(0, bytesRead))
    pos += bytesRead
  }
  return hash.digest('hex')
}

/** fsync a directory so a rename in it survives power loss. */
async function fsyncDir(dir: string): Promise<void> {
  const handle = await openOwnDirectory(dir, 'sync')
  try {
    await handle.sync()
  } finally {
    await handle.close()
  }
}

async function* emptyStream(): AsyncIterable<Uint8Array> {}

function isErrno(err: unknown, code: string): boolean {
  return (err as NodeJS.ErrnoException | undefined)?.code === code
}

function symlinkError(key: string): S3dbError {
  return new InvalidArgumentError(
    `refusing key ${JSON.stringify(key)}: its path in the filesystem store passes through a symlink`,
  )
}

function notAnObjectError(key: string): S3dbError {
  return new InvalidArgumentError(
    `key ${JSON.stringify(key)} is backed by something that is not a regular file (a FIFO or device); remove it`,
  )
}

function conflictError(key: string): S3dbError {
  return new InvalidArgumentError(
    `key ${JSON.stringify(key)} conflicts with another key: a filesystem path cannot be both a file and a directory`,
  )
}
