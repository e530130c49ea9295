/**
 * An AWS Lambda handler (Node.js runtime, ESM) on s3db.
 *
 * The database is opened once per container, at module scope (top-level await
 * runs during Lambda's init phase, before the first invocation). Every
 * invocation then costs only what it does: an `update` on a warm replica is two
 * PUTs when nobody else wrote; a `view` is one conditional GET.
 *
 * Events:
 *   { "op": "increment", "counter": "hits", "by": 1 }  -> the counter's new value
 *   { "op": "get", "counter": "hits" }                 -> its value and how many
 *                                                         invocations incremented it
 *
 * Increments are idempotent per `context.awsRequestId`: Lambda retries a failed
 * asynchronous invocation with the same request id, and a retry of an increment
 * that did commit (say the function timed out right after) must not count twice.
 */
import type { CommitEvent, RequestCounts } from '@s3db/core'
import { openDatabase } from './db.ts'

/** The part of Lambda's context object this handler uses. */
export interface LambdaContext {
  awsRequestId: string
  functionName?: string
}

export type CounterEvent =
  | { op: 'increment'; counter?: string; by?: number }
  | { op: 'get'; counter?: string }

export interface CounterResult {
  counter: string
  value: number
  /** Increments recorded for this counter (get only). */
  invocations?: number
  /** True when this request id had already been applied (a retry). */
  duplicate?: boolean
  /** True on the first invocation of this container. */
  coldStart: boolean
  /** Store requests this invocation sent. */
  requests: RequestCounts
  /** Commit attempts (1 = no other writer got in between). */
  attempts?: number
  durationMs: number
}

/**
 * When this module's own code started, in ms since the process started: every
 * import it depends on has been loaded and evaluated by then (in the bundle too),
 * so this minus when the import began is the module load time.
 */
const loadedAtMs = performance.now()

let lastCommit: CommitEvent | undefined
/** Attempts of the latest commit (a function, so TypeScript does not narrow it away). */
const lastAttempts = (): number | undefined => lastCommit?.attempts
const db = await openDatabase((event) => {
  // Invocations never overlap within one container, so the last commit event
  // belongs to the current invocation.
  if (event.type === 'commit') lastCommit = event
})
/** Requests the cold start (open, migrations, snapshot download) cost. */
export const initRequests: RequestCounts = { ...db.stats().requests }
/** Where the init phase went: module load (see loadedAtMs) and the database open. */
export const initTimings = { loadedAtMs, openMs: performance.now() - loadedAtMs }
let invocations = 0

/**
 * Closes the database (removes the temp replica). Lambda itself just freezes
 * and discards containers; the local invoke script calls this before exiting.
 */
export const shutdown = (): Promise<void> => db.close()

function delta(after: RequestCounts, before: RequestCounts): RequestCounts {
  const out = { ...after }
  for (const key of Object.keys(out) as (keyof RequestCounts)[]) out[key] -= before[key]
  return out
}

export const handler = async (
  event: CounterEvent,
  context: LambdaContext,
): Promise<CounterResult> => {
  const started = performance.now()
  const before = { ...db.stats().requests }
  const coldStart = invocations++ === 0
  const counter = event.counter ?? 'hits'
  const finish = (
    result: Omit<CounterResult, 'coldStart' | 'requests' | 'durationMs'>,
  ): CounterResult => ({
    ...result,
    coldStart,
    requests: delta(db.stats().requests, before),
    durationMs: Math.round(performance.now() - started),
  })

  if (event.op === 'get') {
    const row = await db.view((tx) =>
      tx.get<{ value: number | null; invocations: number }>(
        `SELECT (SELECT value FROM counters WHERE name = ?) AS value,
                (SELECT count(*) FROM invocations WHERE counter = ?) AS invocations`,
        [counter, counter],
      ),
    )
    return finish({ counter, value: row?.value ?? 0, invocations: row?.invocations ?? 0 })
  }

  const by = event.by ?? 1
  if (!Number.isSafeInteger(by)) throw new Error(`by must be an integer, got ${by}`)
  lastCommit = undefined
  // May run more than once (another container committed first): it only reads
  // and writes through tx, and decides from what it reads.
  const { value, duplicate } = await db.update((tx) => {
    const seen = tx.get<{ value: number }>('SELECT value FROM invocations WHERE request_id = ?', [
      context.awsRequestId,
    ])
    if (seen) return { value: seen.value, duplicate: true }
    const row = tx.get<{ value: number }>(
      `INSERT INTO counters (name, value) VALUES (?, ?)
       ON CONFLICT (name) DO UPDATE SET value = value + excluded.value
       RETURNING value`,
      [counter, by],
    )!
    tx.run('INSERT INTO invocations (request_id, counter, value, at) VALUES (?, ?, ?, ?)', [
      context.awsRequestId,
      counter,
      row.value,
      new Date().toISOString(),
    ])
    return { value: row.value, duplicate: false }
  })
  return finish({ counter, value, duplicate, attempts: lastAttempts() })
}
