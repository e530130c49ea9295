import type { FileHandle } from 'node:fs/promises'
import { open } from 'node:fs/promises'
import { createRequire } from 'node:module'
import { InvalidArgumentError, throwIfAborted } from '../errors.js'
import { Mutex } from '../util/mutex.js'
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

/**
 * A cross-process exclusive lock on one file, released by the kernel if the holder
 * dies. Acquisition polls a non-blocking flock so the event loop never blocks;
 * callers in one process queue on a promise chain first, so only cross-process
 * contention polls.
 */
export class FileLock {
  readonly #path: string
  #handle: FileHandle | undefined
  /** Callers in this process queue here; only the holder polls flock. */
  readonly #local = new Mutex()

  constructor(path: string) {
    this.#path = path
    loadFlock()
  }

  /** Runs `fn` while holding the lock. */
  withLock<T>(fn: () => Promise<T>, signal?: AbortSignal): Promise<T> {
    return this.#local.run(async () => {
      const fd = await this.#acquire(signal)
      try {
        return await fn()
      } finally {
        loadFlock().call(fd, LOCK_UN)
      }
    })
  }

  /** Closes the lock file once the callers queued so far are done. */
  async close(): Promise<void> {
    await this.#local.run(async () => {
      await this.#handle?.close()
      this.#handle = undefined
    })
  }

  async #acquire(signal: AbortSignal | undefined): Promise<number> {
    this.#handle ??= await open(this.#path, 'a', 0o600)
    const fd = this.#handle.fd
    const flock = loadFlock()
    for (let attempt = 0; ; attempt++) {
      throwIfAborted(signal)
      if (flock.call(fd, LOCK_EX | LOCK_NB) === 0) return fd
      const errno = flock.errno()
      if (errno !== EWOULDBLOCK && errno !== EAGAIN_DARWIN && errno !== EINTR) {
        throw new Error(`flock(${this.#path}) failed with errno ${errno}`)
      }
      // Holders keep the lock for a stat and a rename: poll fast, then back off a little.
      await sleep(Math.min(1 + attempt, 10), signal)
    }
  }
}

/** A held flock; `release()` unlocks and closes it. */
export interface HeldLock {
  release(): Promise<void>
}

/**
 * Takes an exclusive flock on `path` (created 0600) without waiting: returns
 * undefined when another process (or another open in this one) holds it.
 */
export async function tryLockFile(path: string): Promise<HeldLock | undefined> {
  const flock = loadFlock()
  const handle = await open(path, 'a', 0o600)
  if (flock.call(handle.fd, LOCK_EX | LOCK_NB) !== 0) {
    const errno = flock.errno()
    await handle.close()
    if (errno === EWOULDBLOCK || errno === EAGAIN_DARWIN) return undefined
    throw new Error(`flock(${path}) failed with errno ${errno}`)
  }
  return {
    release: async () => {
      flock.call(handle.fd, LOCK_UN)
      await handle.close()
    },
  }
}
