import { constants } from 'node:fs'
import type { FileHandle } from 'node:fs/promises'
import { createRequire } from 'node:module'
import { InvalidArgumentError, throwIfAborted } from '../errors.js'
import { Mutex } from '../util/mutex.js'
import { isStillAt, openOwnDirectory, openOwnFile } from '../util/safe-open.js'
import { sleep } from '../util/sleep.js'

// flock(2), not fcntl: it is what the Go s3db's filesystem store takes on the same
// `.s3db.lock` file, so Go and TypeScript writers on one directory exclude each other.
// Node has no flock; koffi calls libc's directly (its prebuilt binary ships in npm).
const LOCK_EX = 2
const LOCK_NB = 4
const LOCK_UN = 8
const EINTR = 4
const EWOULDBLOCK = 11
const EAGAIN_DARWIN = 35

type FlockFn = (fd: number, op: number) => number
let flockFn: { call: FlockFn; errno: () => number } | undefined

function loadFlock(): { call: FlockFn; errno: () => number } {
  if (flockFn) return flockFn
  const require = createRequire(import.meta.url)
  const koffi = require('koffi') as typeof import('koffi')
  const libc = process.platform === 'darwin' ? 'libSystem.B.dylib' : 'libc.so.6'
  if (process.platform !== 'linux' && process.platform !== 'darwin') {
    throw new InvalidArgumentError(
      `the filesystem store needs flock(2), which ${process.platform} does not provide; use another store`,
    )
  }
  const call = koffi.load(libc).func('int flock(int fd, int op)') as FlockFn
  flockFn = { call, errno: () => koffi.errno() }
  return flockFn
}

/** What a {@link FileLock} locks: a file (created 0600 when missing) or an existing directory. */
export interface LockTarget {
  path: string
  kind: 'file' | 'directory'
}

/**
 * Takes a non-blocking exclusive flock on `handle` and checks that it still is
 * what sits at `path`. Returns 'held', 'busy' (another holder), or 'replaced'
 * (the path was deleted or replaced since `handle` was opened: the lock is not
 * taken and the caller must reopen).
 *
 * The check is what makes a deleted lock file harmless: a holder of the old,
 * unlinked inode and a newcomer that created a fresh file would otherwise both
 * believe they hold the lock.
 */
async function lockIfCurrent(
  handle: FileHandle,
  path: string,
): Promise<'held' | 'busy' | 'replaced'> {
  const flock = loadFlock()
  while (flock.call(handle.fd, LOCK_EX | LOCK_NB) !== 0) {
    const errno = flock.errno()
    if (errno === EINTR) continue
    if (errno === EWOULDBLOCK || errno === EAGAIN_DARWIN) return 'busy'
    throw new Error(`flock(${path}) failed with errno ${errno}`)
  }
  let current = false
  try {
    current = await isStillAt(handle, path)
  } finally {
    if (!current) flock.call(handle.fd, LOCK_UN)
  }
  return current ? 'held' : 'replaced'
}

function openTarget(target: LockTarget, write = false): Promise<FileHandle> {
  return target.kind === 'directory'
    ? openOwnDirectory(target.path, 'lock')
    : openOwnFile(
        target.path,
        (write ? constants.O_RDWR : constants.O_RDONLY) | constants.O_CREAT,
        0o600,
        'lock',
      )
}

/**
 * A cross-process exclusive lock on one or more files or directories, taken in
 * order and released by the kernel if the holder dies. Acquisition polls a
 * non-blocking flock so the event loop never blocks; callers in one process
 * queue on a mutex first, so only cross-process contention polls.
 *
 * Every flock is validated against the path after it is taken (see
 * {@link lockIfCurrent}). A target that is deleted while a holder is inside its
 * critical section cannot be detected by a newcomer, which is why the
 * filesystem store also locks its root directory: that cannot be deleted while
 * it holds objects.
 */
export class FileLock {
  readonly #targets: readonly LockTarget[]
  readonly #handles: (FileHandle | undefined)[]
  /** Callers in this process queue here; only the holder polls flock. */
  readonly #local = new Mutex()

  constructor(targets: readonly LockTarget[]) {
    this.#targets = targets
    this.#handles = targets.map(() => undefined)
    loadFlock()
  }

  /** Runs `fn` while holding the lock. */
  withLock<T>(fn: () => Promise<T>, signal?: AbortSignal): Promise<T> {
    return this.#local.run(async () => {
      const held: number[] = []
      try {
        for (let i = 0; i < this.#targets.length; i++) {
          held.push(await this.#acquire(i, signal))
        }
        return await fn()
      } finally {
        for (const fd of held.reverse()) loadFlock().call(fd, LOCK_UN)
      }
    })
  }

  /** Closes the lock's descriptors once the callers queued so far are done. */
  async close(): Promise<void> {
    await this.#local.run(async () => {
      for (let i = 0; i < this.#handles.length; i++) {
        await this.#handles[i]?.close()
        this.#handles[i] = undefined
      }
    })
  }

  async #acquire(index: number, signal: AbortSignal | undefined): Promise<number> {
    const target = this.#targets[index]!
    for (let attempt = 0; ; ) {
      throwIfAborted(signal)
      const handle = this.#handles[index] ?? (await openTarget(target))
      this.#handles[index] = handle
      const state = await lockIfCurrent(handle, target.path)
      if (state === 'held') return handle.fd
      if (state === 'replaced') {
        // Someone deleted or swapped the lock file: lock what is there now.
        this.#handles[index] = undefined
        await handle.close()
        continue
      }
      // Holders keep the lock for a stat and a rename: poll fast, then back off a little.
      await sleep(Math.min(1 + attempt++, 10), signal)
    }
  }
}

/** A held flock; `release()` unlocks and closes it. */
export interface HeldLock {
  /** The locked descriptor (opened read-write when asked for). */
  readonly handle: FileHandle
  release(): Promise<void>
}

/**
 * Takes an exclusive flock on the file at `path` (created 0600 unless `create`
 * is false; never through a symlink) without waiting: returns undefined when
 * another process (or another open in this one) holds it. With `write`, the
 * descriptor is opened read-write so the caller can keep its data in the same
 * file. A lock file deleted or replaced by someone else while we opened it is
 * retried on whatever is at the path now.
 */
export async function tryLockFile(
  path: string,
  options: { write?: boolean; create?: boolean } = {},
): Promise<HeldLock | undefined> {
  for (;;) {
    const handle =
      options.create === false
        ? await openOwnFile(
            path,
            options.write ? constants.O_RDWR : constants.O_RDONLY,
            0o600,
            'lock',
          )
        : await openTarget({ path, kind: 'file' }, options.write)
    let state: 'held' | 'busy' | 'replaced'
    try {
      state = await lockIfCurrent(handle, path)
    } catch (err) {
      await handle.close()
      throw err
    }
    if (state === 'held') {
      return {
        handle,
        release: async () => {
          loadFlock().call(handle.fd, LOCK_UN)
          await handle.close()
        },
      }
    }
    await handle.close()
    if (state === 'busy') return undefined
  }
}
