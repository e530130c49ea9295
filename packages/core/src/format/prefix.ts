import { InvalidArgumentError } from '../errors.js'

/**
 * Validates a database prefix: non-empty, ends in `/`, relative (no leading `/`),
 * no empty, `.` or `..` segments, no NUL or backslash. Every key s3db reads or
 * writes is built from it, so nothing can land outside it.
 */
export function validateDatabasePrefix(prefix: string): void {
  const example = 'for example "myapp/db/"'
  if (typeof prefix !== 'string' || prefix === '') {
    throw new InvalidArgumentError(
      `database prefix must be a non-empty string ending in "/", ${example}`,
    )
  }
  if (!prefix.endsWith('/')) {
    throw new InvalidArgumentError(
      `database prefix ${JSON.stringify(prefix)} must end in "/", ${example}`,
    )
  }
  if (prefix.startsWith('/')) {
    throw new InvalidArgumentError(
      `database prefix ${JSON.stringify(prefix)} must not start with "/", ${example}`,
    )
  }
  if (prefix.includes('\0') || prefix.includes('\\')) {
    throw new InvalidArgumentError(
      `database prefix ${JSON.stringify(prefix)} contains NUL or a backslash`,
    )
  }
  if (Buffer.byteLength(prefix) > 512) {
    throw new InvalidArgumentError('database prefix is longer than 512 bytes')
  }
  for (const segment of prefix.slice(0, -1).split('/')) {
    if (segment === '' || segment === '.' || segment === '..') {
      throw new InvalidArgumentError(
        `database prefix ${JSON.stringify(prefix)} must not contain empty, "." or ".." segments, ${example}`,
      )
    }
  }
}
