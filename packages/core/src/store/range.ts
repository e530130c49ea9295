import { InvalidArgumentError } from '../errors.js'
import type { ByteRange } from './blob-store.js'

/** Validates `range` and clamps it to an object of `size` bytes: [start, end). */
export function clampRange(range: ByteRange, size: number): [number, number] {
  const { start, end } = range
  if (
    !Number.isSafeInteger(start) ||
    start < 0 ||
    (end !== undefined && (!Number.isSafeInteger(end) || end < start))
  ) {
    throw new InvalidArgumentError(`invalid byte range ${JSON.stringify(range)}`)
  }
  const s = Math.min(start, size)
  return [s, Math.max(s, Math.min(end ?? size, size))]
}
