/**
 * Downloads a snapshot to a local file: streamed (never whole in memory), size
 * checked, as parallel ranged GETs when large, verified to be an undamaged
 * SQLite database.
 *
 * @module
 */
import { randomBytes } from 'node:crypto'
import type { FileHandle } from 'node:fs/promises'
import { open, unlink } from 'node:fs/promises'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import { CorruptError, ObjectTooLargeError } from './errors.js'
import type { ProgressEvent } from './events.js'
import type { BlobRef } from './format/manifest.js'
import type { Runtime } from './runtime.js'
import { SQLITE_HEADER } from './sqlite-file.js'
import type { BlobStore } from './store/blob-store.js'
import { forEachIndexLimited } from './util/pool.js'
import { retryTransient } from './util/retry.js'

export interface DownloadOptions {
  signal?: AbortSignal | undefined
  /** Ranges are at least this long: smaller objects are one plain GET. */
  minPartSize: number
  /** Ranges are at most this long (bounds what a retried range re-fetches). */
  maxPartSize: number
  /** Parallel GETs. */
  concurrency: number
  onProgress?: ((event: ProgressEvent) => void) | undefined
  /** Clock and randomness for retry backoff (the engine's; default the system's). */
  runtime?: Runtime | undefined
}

/** A byte range [start, end) of the snapshot object. */
interface Part {
  start: number
  end: number
}

/**
 * How a snapshot is split into ranges: `count` ranges of `length` bytes (the
 * last one shorter). A plan, not a list: a size claimed by a hostile manifest
 * must not make memory grow, and the first answer refutes it.
 */
export interface PartPlan {
  size: number
  count: number
  length: number
}

/**
 * Splits `size` bytes into equal ranges: one per connection while each stays at
 * least `minPartSize`, more when a range would exceed `maxPartSize`. On a store
 * where bandwidth is per connection (S3), n ranges arrive about n times faster.
 */
export function planParts(
  size: number,
  options: Pick<DownloadOptions, 'minPartSize' | 'maxPartSize' | 'concurrency'>,
): PartPlan {
  if (size <= 0) return { size: 0, count: 0, length: 0 }
  const count = Math.max(
    1,
    Math.min(options.concurrency, Math.floor(size / options.minPartSize)),
    Math.ceil(size / options.maxPartSize),
  )
  const length = Math.ceil(size / count)
  // Rounding up may leave the last planned range empty: drop it.
  return { size, count: Math.ceil(size / length), length }
}

/** The `i`-th range of a plan. */
export function partAt(plan: PartPlan, i: number): Part {
  const start = i * plan.length
  return { start, end: Math.min(plan.size, start + plan.length) }
}

/**
 * Writes a temp file in `dir` holding the snapshot `ref`; returns its path.
 * Memory stays bounded whatever the manifest claims: the body streams to disk,
 * a body longer than the recorded size is refused without reading past it, and
 * the first ranged answer checks the object's real size against the record.
 * Throws `CorruptError` for a wrong size, a non-SQLite file or damaged pages.
 */
export async function downloadSnapshot(
  store: BlobStore,
  ref: BlobRef,
  dir: string,
  options: DownloadOptions,
): Promise<string> {
  const path = join(dir, `.s3db-download-${randomBytes(8).toString('hex')}.sqlite`)
  const handle = await open(path, 'wx+', 0o600)
  try {
    // A body cut off half way is retried (from the start, or per range).
    const plan = planParts(ref.size, options)
    let size = ref.size
    if (plan.count > 1) await rangedDownload(store, ref, plan, handle, options)
    else
      size = await retryTransient(
        async () => {
          await handle.truncate(0)
          return streamDownload(store, ref, handle, options)
        },
        5,
        options.signal,
        options.runtime,
      )
    if (ref.size > 0 && size !== ref.size) throw sizeMismatch(ref, size)
    await verifyHeader(handle, ref.key, size)
    await handle.sync()
    await handle.close()
    checkPages(path, ref.key, size)
    return path
  } catch (err) {
    await handle.close().catch(() => {})
    await unlink(path).catch(() => {})
    throw err
  }
}

function sizeMismatch(ref: BlobRef, actual: number | string): CorruptError {
  return new CorruptError(
    `snapshot ${ref.key} is ${actual} bytes but the manifest says ${ref.size}: the object is damaged or not this database's; restore it, or push a good copy of the database`,
  )
}

async function streamDownload(
  store: BlobStore,
  ref: BlobRef,
  handle: FileHandle,
  options: DownloadOptions,
): Promise<number> {
  const maxBytes = ref.size > 0 ? ref.size : undefined
  const res = await store
    .getStream(ref.key, { signal: options.signal, maxBytes })
    .catch(tooLarge(ref))
  if (res.notModified) throw new Error('unexpected notModified')
  if (ref.size > 0 && res.size !== ref.size) {
    res.body.destroy?.()
    throw sizeMismatch(ref, res.size)
  }
  const total = res.size
  let written = 0
  let reported = 0
  try {
    for await (const chunk of res.body) {
      await writeFully(handle, chunk, written)
      written += chunk.byteLength
      if (options.onProgress && written - reported >= 1 << 20) {
        reported = written
        options.onProgress({
          type: 'progress',
          operation: 'snapshot-download',
          key: ref.key,
          bytesDone: written,
          bytesTotal: total,
        })
      }
    }
  } catch (err) {
    res.body.destroy?.()
    return tooLarge(ref)(err)
  }
  options.onProgress?.({
    type: 'progress',
    operation: 'snapshot-download',
    key: ref.key,
    bytesDone: written,
    bytesTotal: total,
  })
  return written
}

/** Rethrows a store's ObjectTooLargeError as this snapshot's size mismatch. */
function tooLarge(ref: BlobRef): (err: unknown) => never {
  return (err) => {
    if (err instanceof ObjectTooLargeError) throw sizeMismatch(ref, `more than ${ref.size}`)
    throw err
  }
}

async function rangedDownload(
  store: BlobStore,
  ref: BlobRef,
  plan: PartPlan,
  handle: FileHandle,
  options: DownloadOptions,
): Promise<void> {
  let done = 0
  let etag: string | undefined
  await forEachIndexLimited(plan.count, options.concurrency, async (i) => {
    const part = partAt(plan, i)
    await retryTransient(
      async () => {
        const res = await store.getStream(ref.key, { signal: options.signal, range: part })
        if (res.notModified) throw new Error('unexpected notModified')
        // Every answer states the object's real size: a wrong record is refused
        // at the first one, before the rest of the plan is fetched.
        if (res.size !== ref.size) {
          res.body.destroy?.()
          throw sizeMismatch(ref, res.size)
        }
        // Objects are immutable; differing ETags mean the key was replaced mid-download.
        if (etag !== undefined && res.etag !== etag) {
          res.body.destroy?.()
          throw new CorruptError(`snapshot ${ref.key} changed during download`)
        }
        etag = res.etag
        let pos = part.start
        for await (const chunk of res.body) {
          if (pos + chunk.byteLength > part.end) {
            res.body.destroy?.()
            throw new CorruptError(
              `snapshot ${ref.key}: range ${part.start}-${part.end} returned more bytes than asked for`,
            )
          }
          await writeFully(handle, chunk, pos)
          pos += chunk.byteLength
        }
        if (pos !== part.end) {
          throw new CorruptError(
            `snapshot ${ref.key}: range ${part.start}-${part.end} returned ${pos - part.start} bytes`,
          )
        }
      },
      5,
      options.signal,
      options.runtime,
    )
    done += part.end - part.start
    options.onProgress?.({
      type: 'progress',
      operation: 'snapshot-download',
      key: ref.key,
      bytesDone: done,
      bytesTotal: ref.size,
    })
  })
}

async function writeFully(handle: FileHandle, chunk: Uint8Array, position: number): Promise<void> {
  let off = 0
  while (off < chunk.byteLength) {
    const { bytesWritten } = await handle.write(chunk, off, chunk.byteLength - off, position + off)
    off += bytesWritten
  }
}

async function verifyHeader(handle: FileHandle, key: string, size: number): Promise<void> {
  const head = Buffer.alloc(16)
  const { bytesRead } = await handle.read(head, 0, 16, 0)
  if (size < 100 || bytesRead < 16 || !head.equals(SQLITE_HEADER)) {
    throw new CorruptError(
      `snapshot ${key} is not a SQLite database file; restore it, or push a good copy of the database`,
    )
  }
}

/**
 * SQLite's quick_check over the downloaded file: damaged pages behind a valid
 * header are refused here, before the file becomes a replica, instead of
 * failing queries later. It reads every page once (about 2 ms per MB, measured
 * in docs/DESIGN-NOTES.md).
 */
function checkPages(path: string, key: string, size: number): void {
  let problem: string
  try {
    const db = new Database(path, { fileMustExist: true })
    try {
      const rows = db.pragma('quick_check(5)') as { quick_check: string }[]
      if (rows.length === 1 && rows[0]?.quick_check === 'ok') return
      problem = rows.map((r) => r.quick_check).join('; ')
    } finally {
      db.close()
    }
  } catch (err) {
    problem = (err as Error).message
  }
  throw new CorruptError(
    `snapshot ${key} (${size} bytes) is a damaged SQLite database (${problem}); restore the object, or push a good copy of the database`,
  )
}
