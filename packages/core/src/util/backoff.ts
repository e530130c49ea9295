/** Full-jitter exponential backoff: a random delay in [0, min(cap, base * 2^attempt)). */
export function backoffDelay(
  attempt: number,
  baseMs = 10,
  capMs = 1000,
  random: () => number = Math.random,
): number {
  return random() * Math.min(capMs, baseMs * 2 ** Math.min(attempt, 20))
}
