import { isS3dbError, StoreUnavailableError } from '../errors.js'
import { type Runtime, systemRuntime } from '../runtime.js'
import { backoffDelay } from './backoff.js'

/** True for store failures worth trying again. */
export function isTransient(err: unknown): boolean {
  return err instanceof StoreUnavailableError ? err.retryable : isS3dbError(err, 'StoreUnavailable')
}

/** Runs `fn`, retrying transient store failures with jittered backoff. */
export async function retryTransient<T>(
  fn: () => Promise<T>,
  attempts: number,
  signal?: AbortSignal,
  runtime: Runtime = systemRuntime,
): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await fn()
    } catch (err) {
      if (!isTransient(err) || attempt + 1 >= attempts) throw err
      await runtime.sleep(backoffDelay(attempt, 50, 2000, runtime.random), signal)
    }
  }
}
