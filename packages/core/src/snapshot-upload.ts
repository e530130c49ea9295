/**
 * Uploads a snapshot file, streamed, reporting progress as it goes.
 *
 * @module
 */
import type { ProgressEvent } from './events.js'
import type { BlobStore } from './store/blob-store.js'
import { fileBody, reportingBody } from './store/body.js'

/** Uploads the SQLite file at `path` as `key` (a new, unique key). */
export async function uploadSnapshot(
  store: BlobStore,
  key: string,
  path: string,
  options: {
    signal?: AbortSignal | undefined
    onProgress?: ((e: ProgressEvent) => void) | undefined
  },
): Promise<void> {
  const file = await fileBody(path)
  const report = (bytesDone: number) =>
    options.onProgress?.({
      type: 'progress',
      operation: 'snapshot-upload',
      key,
      bytesDone,
      bytesTotal: file.size,
    })
  let reported = 0
  report(0)
  const body = reportingBody(file, (done) => {
    if (done - reported >= 1 << 20) {
      reported = done
      report(done)
    }
  })
  await store.put(key, body, { signal: options.signal, contentType: 'application/vnd.sqlite3' })
  report(file.size)
}
