import { createHash } from 'node:crypto'
import { createReadStream } from 'node:fs'
import { stat } from 'node:fs/promises'
import type { BodySource, PutBody } from './blob-store.js'

/** A {@link BodySource} that streams a file; reopened on every `open()`. */
export async function fileBody(path: string): Promise<BodySource> {
  const { size } = await stat(path)
  // 64 KiB chunks: every chunk is a fresh Buffer that V8 collects lazily, and
  // with 1 MiB chunks a 128 MiB upload left ~72 MiB of garbage resident (17 MiB
  // with 64 KiB; bench: ddl-memory). Throughput is the same either way.
  return { size, path, open: () => createReadStream(path, { highWaterMark: 1 << 16 }) }
}

/** Size in bytes of a put body. */
export function bodySize(body: PutBody): number {
  return body instanceof Uint8Array ? body.byteLength : body.size
}

/** Iterates a put body as chunks. */
export async function* bodyChunks(body: PutBody): AsyncIterable<Uint8Array> {
  if (body instanceof Uint8Array) yield body
  else yield* body.open()
}

/** Reads a whole body into memory. */
export async function bodyBytes(body: PutBody): Promise<Uint8Array> {
  if (body instanceof Uint8Array) return body
  const parts: Uint8Array[] = []
  for await (const chunk of body.open()) parts.push(chunk)
  return Buffer.concat(parts)
}

/** Hex MD5 of bytes: the ETag S3 gives single-part unencrypted uploads. */
export function md5Hex(bytes: Uint8Array): string {
  return createHash('md5').update(bytes).digest('hex')
}

/** Strips quotes and a weak `W/` marker so ETags from any source compare equal. */
export function normalizeEtag(etag: string): string {
  let e = etag.trim()
  if (e.startsWith('W/')) e = e.slice(2)
  if (e.length >= 2 && e.startsWith('"') && e.endsWith('"')) e = e.slice(1, -1)
  return e
}

/** A body source that reports bytes as they are read (for upload progress). */
export function reportingBody(body: BodySource, onBytes: (done: number) => void): BodySource {
  return {
    size: body.size,
    path: body.path,
    async *open() {
      let done = 0
      for await (const chunk of body.open()) {
        done += chunk.byteLength
        onBytes(done)
        yield chunk
      }
    },
  }
}
