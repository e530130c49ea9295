/**
 * Time, randomness and ids: everything nondeterministic the engine uses, in one
 * place. Production uses {@link systemRuntime}; a deterministic simulation
 * substitutes its own, so that one seed replays one run exactly.
 *
 * @module
 */
import { newId } from './format/ids.js'
import { sleep } from './util/sleep.js'

/** The engine's source of time, randomness and unique ids. */
export interface Runtime {
  /** Wall-clock time, ms since the epoch (compared with times other processes wrote). */
  now(): number
  /** A monotonic clock in ms, for durations. */
  monotonic(): number
  /** A uniformly distributed number in [0, 1). */
  random(): number
  /** Resolves after `ms`, or rejects with AbortedError as soon as `signal` aborts. */
  sleep(ms: number, signal?: AbortSignal): Promise<void>
  /** A new unique, time-sortable object id (never reused). */
  newId(): string
}

/** The real clock, Math.random and ULIDs. */
export const systemRuntime: Runtime = {
  now: () => Date.now(),
  monotonic: () => performance.now(),
  random: () => Math.random(),
  sleep,
  newId,
}
