/**
 * Workloads with exact checkers for fault-injection runs. Each returns what it
 * observed; the checkers decide from the final database state.
 */
import { isS3dbError, type S3db } from '@s3db/core'

/** How one transaction ended, from the client's point of view. */
export type Outcome = 'acked' | 'failed' | 'indeterminate'

export function classify(err: unknown): Outcome {
  return isS3dbError(err, 'CommitIndeterminate') ? 'indeterminate' : 'failed'
}

export interface CounterRun {
  outcomes: Map<string, Outcome>
  errors: Map<string, number>
}

/**
 * Counter increments that also record their id, so indeterminate outcomes can
 * be resolved. With `abortRate`, that share of the updates carries an
 * AbortSignal that fires at a random moment (0-30 ms in): an update rejected
 * with Aborted must not have been applied.
 */
export async function counterWorkload(
  writers: S3db[],
  perWriter: number,
  abortRate = 0,
  random: () => number = Math.random,
): Promise<CounterRun> {
  const outcomes = new Map<string, Outcome>()
  const errors = new Map<string, number>()
  await Promise.all(
    writers.map(async (db, w) => {
      for (let i = 0; i < perWriter; i++) {
        const id = `w${w}-${i}`
        const controller = random() < abortRate ? new AbortController() : undefined
        const timer = controller && setTimeout(() => controller.abort(), random() * 30)
        try {
          await db.update(
            (tx) => {
              tx.run('UPDATE counter SET n = n + 1 WHERE id = 1')
              tx.run('INSERT INTO applied (id) VALUES (?)', [id])
            },
            { signal: controller?.signal },
          )
          outcomes.set(id, 'acked')
        } catch (err) {
          outcomes.set(id, classify(err))
          const code = isS3dbError(err) ? err.code : String(err)
          errors.set(code, (errors.get(code) ?? 0) + 1)
        } finally {
          clearTimeout(timer)
        }
      }
    }),
  )
  return { outcomes, errors }
}

/** Checks a counter run against the final state; returns a verdict with details. */
export function checkCounter(run: CounterRun, final: { n: number; applied: string[] }): string[] {
  const problems: string[] = []
  const applied = new Set(final.applied)
  if (applied.size !== final.applied.length) problems.push('an increment was applied twice')
  if (final.n !== applied.size)
    problems.push(`counter ${final.n} != ${applied.size} recorded increments`)
  for (const [id, outcome] of run.outcomes) {
    if (outcome === 'acked' && !applied.has(id)) problems.push(`acknowledged ${id} was lost`)
    if (outcome === 'failed' && applied.has(id)) problems.push(`failed ${id} was applied`)
  }
  const acked = [...run.outcomes.values()].filter((o) => o === 'acked').length
  if (final.n < acked) problems.push(`counter ${final.n} < ${acked} acknowledged`)
  return problems
}

export interface AppendRun {
  /** value -> outcome */
  outcomes: Map<number, Outcome>
  /** value -> the list its committed run read */
  reads: Map<number, number[]>
}

/** List-append: each transaction reads the list and appends a unique value. */
export async function appendWorkload(writers: S3db[], perWriter: number): Promise<AppendRun> {
  const outcomes = new Map<number, Outcome>()
  const reads = new Map<number, number[]>()
  await Promise.all(
    writers.map(async (db, w) => {
      for (let i = 0; i < perWriter; i++) {
        const value = w * 100_000 + i
        try {
          const read = await db.update((tx) => {
            const row = tx.get<{ items: string }>('SELECT items FROM list WHERE id = 1')!
            const items = JSON.parse(row.items) as number[]
            tx.run('UPDATE list SET items = ? WHERE id = 1', [JSON.stringify([...items, value])])
            return items
          })
          outcomes.set(value, 'acked')
          reads.set(value, read)
        } catch (err) {
          outcomes.set(value, classify(err))
        }
      }
    }),
  )
  return { outcomes, reads }
}

/**
 * Serializability for list-append: every acknowledged value appears exactly
 * once, indeterminate ones at most once, failed ones never, and each committed
 * transaction read exactly the prefix of the final list before its own value.
 */
export function checkAppend(run: AppendRun, final: number[]): string[] {
  const problems: string[] = []
  const count = new Map<number, number>()
  for (const v of final) count.set(v, (count.get(v) ?? 0) + 1)
  for (const [v, outcome] of run.outcomes) {
    const n = count.get(v) ?? 0
    if (outcome === 'acked' && n !== 1) problems.push(`acknowledged ${v} appears ${n} times`)
    if (outcome === 'indeterminate' && n > 1) problems.push(`indeterminate ${v} appears ${n} times`)
    if (outcome === 'failed' && n !== 0) problems.push(`failed ${v} appears ${n} times`)
  }
  for (const v of final)
    if (!run.outcomes.has(v)) problems.push(`${v} appears but was never written`)
  for (const [v, read] of run.reads) {
    const at = final.indexOf(v)
    const prefix = final.slice(0, at)
    if (at !== read.length || prefix.some((x, i) => x !== read[i])) {
      problems.push(`transaction appending ${v} read [${read.join(',')}], not the prefix before it`)
    }
  }
  return problems
}

/**
 * Write skew, on-call doctors: each transaction takes one doctor off call only
 * if at least two are on call. Under serializability at least one stays on call.
 */
export async function doctorsWorkload(writers: S3db[], rounds: number): Promise<void> {
  await Promise.all(
    writers.map(async (db, w) => {
      for (let i = 0; i < rounds; i++) {
        await db
          .update((tx) => {
            const onCall = tx.get<{ n: number }>(
              'SELECT count(*) AS n FROM doctors WHERE on_call = 1',
            )!.n
            if (onCall >= 2) tx.run('UPDATE doctors SET on_call = 0 WHERE id = ?', [(w + i) % 5])
            else tx.run('UPDATE doctors SET on_call = 1 WHERE id = ?', [(w + i + 2) % 5])
          })
          .catch(() => {})
      }
    }),
  )
}

/**
 * Write skew, overlapping bookings: each transaction books a room for a slot only
 * if no booking of that room overlaps it.
 */
export async function bookingsWorkload(writers: S3db[], perWriter: number): Promise<number> {
  let booked = 0
  await Promise.all(
    writers.map(async (db, w) => {
      for (let i = 0; i < perWriter; i++) {
        const room = i % 2
        const start = (w * 7 + i * 3) % 20
        const ok = await db
          .update((tx) => {
            const clash = tx.get(
              'SELECT 1 FROM bookings WHERE room = ? AND start < ? AND ? < finish',
              [room, start + 4, start],
            )
            if (clash) return false
            tx.run('INSERT INTO bookings (id, room, start, finish) VALUES (?, ?, ?, ?)', [
              `${w}-${i}`,
              room,
              start,
              start + 4,
            ])
            return true
          })
          .catch(() => false)
        if (ok) booked++
      }
    }),
  )
  return booked
}
