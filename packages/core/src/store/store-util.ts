import { InvalidArgumentError, ObjectTooLargeError } from '../errors.js'
import type { BlobStore, BlobStream, CallOptions, PutOptions } from './blob-store.js'

/** Rejects a put that names both conditions: no store can honour both at once. */
export function assertOneCondition(options: PutOptions): void {
  if (options.ifMatch !== undefined && options.ifNoneMatch) {
    throw new InvalidArgumentError('put accepts ifMatch or ifNoneMatch, not both')
  }
  if (options.ifMatch === '') throw new InvalidArgumentError('ifMatch must be a non-empty ETag')
}

/** Orders keys by their UTF-8 bytes, as S3 lists them. */
export function compareKeys(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'))
}

/** deletePrefix for any store: list the keys, then delete them in batches. */
export async function deleteListed(
  store: BlobStore,
  prefix: string,
  options?: CallOptions,
): Promise<number> {
  const keys: string[] = []
  for await (const entry of store.list(prefix, options)) keys.push(entry.key)
  await store.deleteMany(keys, options)
  return keys.length
}

/** Throws `ObjectTooLargeError` when an object of `size` bytes exceeds the caller's `maxBytes`. */
export function checkMaxBytes(key: string, size: number, maxBytes: number | undefined): void {
  if (maxBytes !== undefined && size > maxBytes) throw new ObjectTooLargeError(key, maxBytes)
}

/**
 * A stream body that fails with `ObjectTooLargeError` as soon as more than
 * `maxBytes` arrived, whatever length the store announced.
 */
export function cappedBody(
  body: BlobStream['body'],
  key: string,
  maxBytes: number | undefined,
): BlobStream['body'] {
  if (maxBytes === undefined) return body
  return {
    async *[Symbol.asyncIterator]() {
      let read = 0
      for await (const chunk of body) {
        read += chunk.byteLength
        if (read > maxBytes) {
          const err = new ObjectTooLargeError(key, maxBytes)
          body.destroy?.(err)
          throw err
        }
        yield chunk
      }
    },
    destroy: (err?: Error) => body.destroy?.(err),
  }
}
