import { InvalidArgumentError } from '../errors.js'

/** Longest key S3 accepts, in UTF-8 bytes. */
export const MAX_KEY_BYTES = 1024

/**
 * Validates an object key: non-empty, relative, `/`-separated with no empty,
 * `.` or `..` segments, no NUL or backslash, at most 1024 UTF-8 bytes. Every store
 * applies it so a key means the same object everywhere and can never escape a
 * root or prefix.
 */
export function validateKey(key: string): void {
  if (typeof key !== 'string' || key.length === 0) {
    throw new InvalidArgumentError('object key must be a non-empty string')
  }
  if (Buffer.byteLength(key, 'utf8') > MAX_KEY_BYTES) {
    throw new InvalidArgumentError(`object key is longer than ${MAX_KEY_BYTES} bytes`)
  }
  if (key.includes('\0') || key.includes('\\')) {
    throw new InvalidArgumentError(`object key ${JSON.stringify(key)} contains NUL or a backslash`)
  }
  for (const segment of key.split('/')) {
    if (segment === '' || segment === '.' || segment === '..') {
      throw new InvalidArgumentError(
        `object key ${JSON.stringify(key)} must be a relative path without empty, "." or ".." segments`,
      )
    }
  }
}

/**
 * Validates a list/delete prefix: empty (everything) or a string that, like a key,
 * has no `.`/`..` segments, NUL or backslash; it may end in `/`.
 */
export function validatePrefix(prefix: string): void {
  if (prefix === '') return
  validateKey(prefix.endsWith('/') ? prefix.slice(0, -1) : prefix)
}
