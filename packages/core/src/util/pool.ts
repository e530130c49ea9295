/**
 * Runs `fn` on every item, at most `limit` at a time, each worker taking the next
 * item when it is done. Rejects with the first failure (workers then stop taking
 * items).
 */
export async function forEachLimited<T>(
  items: readonly T[],
  limit: number,
  fn: (item: T, index: number) => Promise<void>,
): Promise<void> {
  await forEachIndexLimited(items.length, limit, (i) => fn(items[i]!, i))
}

/**
 * {@link forEachLimited} over the indexes `0..count-1`, for work planned lazily:
 * nothing is allocated per item, so `count` may be large.
 */
export async function forEachIndexLimited(
  count: number,
  limit: number,
  fn: (index: number) => Promise<void>,
): Promise<void> {
  let next = 0
  let failed = false
  const worker = async () => {
    while (!failed && next < count) {
      const i = next++
      try {
        await fn(i)
      } catch (err) {
        failed = true
        throw err
      }
    }
  }
  await Promise.all(Array.from({ length: Math.min(limit, count) }, worker))
}
