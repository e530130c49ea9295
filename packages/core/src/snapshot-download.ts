/**
 * Downloads a snapshot to a local file: streamed (never whole in memory), size
 * checked, as parallel ranged GETs when large, verified to be SQLite.
 *
 * @module
 */
import { randomBytes } from 'node:crypto'
import type { FileHandle } from 'node:fs/promises'
import { open, unlink } from 'node:fs/promises'
import { join } from 'node:path'
import { CorruptError } from './errors.js'
import type { ProgressEvent } from './events.js'
import type { BlobRef } from './format/manifest.js'
import { SQLITE_HEADER } from './sqlite-file.js'
import type { BlobStore } from './store/blob-store.js'
import { forEachLimited } from './util/pool.js'
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
}

/** A byte range [start, end) of the snapshot object. */
interface Part {
  start: number
  end: number
}

/**
 * Splits `size` bytes into equal ranges: one per connection while each stays at
 * least `minPartSize`, more when a range would exceed `maxPartSize`. On a store
 * where bandwidth is per connection (S3), n ranges arrive about n times faster.
 */
export function planParts(
  size: number,
  options: Pick<DownloadOptions, 'minPartSize' | 'maxPartSize' | 'concurrency'>,
): Part[] {
  if (size <= 0) return []
  const count = Math.max(
    1,
    Math.min(options.concurrency, Math.floor(size / options.minPartSize)),
    Math.ceil(size / options.maxPartSize),
  )
  const length = Math.ceil(size / count)
  const parts: Part[] = []
  for (let start = 0; start < size; start += length) {
    parts.push({ start, end: Math.min(size, start + length) })
  }
  return parts
}

/** Writes a temp file in `dir` holding the snapshot `ref`; returns its path. */
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
    const parts = planParts(ref.size, options)
    const size =
      parts.length > 1
        ? await rangedDownload(store, ref, parts, handle, options)
        : await retryTransient(
            async () => {
              await handle.truncate(0)
              return streamDownload(store, ref, handle, options)
            },
            5,
            options.signal,
          )
    if (ref.size > 0 && size !== ref.size) {
      throw new CorruptError(
        `snapshot ${ref.key} is ${size} bytes but the manifest says ${ref.size}`,
      )
    }
    await verifyHeader(handle, ref.key, size)
    await handle.sync()
    await handle.close()
    return path
  } catch (err) {
    await handle.close().catch(() => {})
    await unlink(path).catch(() => {})
    throw err
  }
}

async function streamDownload(
  store: BlobStore,
  ref: BlobRef,
  handle: FileHandle,
  options: DownloadOptions,
): Promise<number> {
  const res = await store.getStream(ref.key, { signal: options.signal })
  if (res.notModified) throw new Error('unexpected notModified')
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
    throw err
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

async function rangedDownload(
  store: BlobStore,
  ref: BlobRef,
  parts: readonly Part[],
  handle: FileHandle,
  options: DownloadOptions,
): Promise<number> {
  let done = 0
  let etag: string | undefined
  let total = 0
  await forEachLimited(parts, options.concurrency, async (part) => {
    await retryTransient(
      async () => {
        const res = await store.getStream(ref.key, { signal: options.signal, range: part })
        if (res.notModified) throw new Error('unexpected notModified')
        // Objects are immutable; differing ETags mean the key was replaced mid-download.
        if (etag !== undefined && res.etag !== etag) {
          throw new CorruptError(`snapshot ${ref.key} changed during download`)
        }
        etag = res.etag
        total = res.size
        let pos = part.start
        for await (const chunk of res.body) {
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
  // The object's size as the store reports it (the caller checks it against the manifest).
  return total
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
    throw new CorruptError(`snapshot ${key} is not a SQLite database file`)
  }
}
