/**
 * The SQL engine process: holds the open S3db for `s3db sql` and `s3db shell`
 * and runs their statements, so that the CLI (its parent) can stop a running
 * statement by killing it. See protocol.ts for when that is safe.
 *
 * @module
 */
import { isS3dbError, type S3db, type Tx } from '@s3db/core'
import type { CommandContext } from '../command.js'
import { openDatabase, resolveTarget } from '../database.js'
import { redact, showError } from '../errors.js'
import { explainError } from '../explain.js'
import { Interrupts } from '../interrupts.js'
import { readIfReadOnly, runStatement, type StatementResult } from '../sql-exec.js'
import type { FromEngine, Reply, Request, ToEngine } from './protocol.js'

/** Thrown to end a trial run of an open transaction block without publishing. */
class Discard {}

// Ctrl-C in a terminal reaches the whole process group; the parent decides.
process.on('SIGINT', () => {})
// The parent is gone (it exited or was killed): nothing is left to answer.
process.on('disconnect', () => process.exit(0))

const send = (message: FromEngine): Promise<void> =>
  new Promise((resolve, reject) =>
    process.send!(message, undefined, {}, (err) => (err ? reject(err) : resolve())),
  )

let db: S3db | undefined
let debug = false
/** Only for describing what an interrupt left behind. */
const interrupts = new Interrupts()
let current: AbortController | undefined
let go: (() => void) | undefined

/**
 * Runs `statements` inside a transaction callback: tells the parent that SQL is
 * running (it may kill us now) and, for an update, asks before returning so
 * the commit publishes only once the parent knows it must not kill any more.
 */
async function asSql<T>(run: () => T, publishes: boolean): Promise<T> {
  await send({ type: 'phase', phase: 'sql' })
  const result = run()
  if (publishes) {
    const allowed = new Promise<void>((resolve) => {
      go = resolve
    })
    await send({ type: 'phase', phase: 'publish' })
    await allowed
  }
  return result
}

function update<T>(fn: (tx: Tx) => T, signal: AbortSignal): Promise<T> {
  // May run more than once (another writer won the commit race): results are the last run's.
  return database().update((tx) => asSql(() => fn(tx), true), { signal })
}

function database(): S3db {
  if (!db) throw new Error('the engine has no open database')
  return db
}

async function handle(request: Request, signal: AbortSignal): Promise<Reply> {
  switch (request.op) {
    case 'open': {
      const { spec } = request
      debug = spec.debug
      const ctx: Pick<CommandContext, 'positionals' | 'values' | 'env' | 'interrupts'> = {
        positionals: [spec.target],
        values: { 'path-style': spec.pathStyle, debug: spec.debug },
        env: process.env,
        interrupts,
      }
      const r = await resolveTarget(ctx)
      db = await openDatabase(r, { signal, localPath: spec.localPath, at: spec.at })
      return { kind: 'opened', seq: db.stats().seq, display: r.target.display }
    }
    case 'sql':
    case 'statement': {
      const statements = request.op === 'sql' ? request.statements : [request.sql]
      const read = await database().view(
        (tx) => asSql(() => readIfReadOnly(tx, statements), false),
        {
          signal,
        },
      )
      if (read.kind === 'read') return { kind: 'results', results: read.results, seq: undefined }
      if (request.op === 'sql' && !request.write) return { kind: 'needs-write', first: read.first }
      const results = await update((tx) => statements.map((s) => runStatement(tx, s)), signal)
      return { kind: 'results', results, seq: database().stats().seq }
    }
    case 'trial': {
      let shown: StatementResult | undefined
      try {
        await database().update(
          (tx) =>
            asSql(() => {
              for (const s of request.block) runStatement(tx, s)
              shown = runStatement(tx, request.sql)
              throw new Discard()
            }, false),
          { signal },
        )
      } catch (err) {
        if (!(err instanceof Discard) || shown === undefined) throw err
      }
      return { kind: 'trial', result: shown! }
    }
    case 'commit': {
      const before = database().stats().seq
      await update((tx) => {
        for (const s of request.block) runStatement(tx, s)
      }, signal)
      const seq = database().stats().seq
      return { kind: 'committed', changed: seq !== before, seq }
    }
    case 'rows': {
      const rows = await database().view(
        (tx) =>
          asSql(
            () =>
              tx
                .prepare(request.sql)
                .values(request.params.length > 0 ? request.params : undefined),
            false,
          ),
        { signal },
      )
      return { kind: 'rows', rows }
    }
    case 'stats':
      return { kind: 'stats', stats: database().stats() }
    case 'close':
      await db?.close()
      db = undefined
      return { kind: 'closed' }
  }
}

process.on('message', (message: ToEngine) => {
  if (message.type === 'go') {
    go?.()
    go = undefined
    return
  }
  if (message.type === 'interrupt') {
    current?.abort(new Error('interrupted'))
    return
  }
  const controller = new AbortController()
  current = controller
  handle(message.request, controller.signal).then(
    async (reply) => {
      await send({ type: 'reply', reply })
      if (reply.kind === 'closed') process.disconnect()
    },
    async (err: unknown) => {
      if (controller.signal.aborted && !isS3dbError(err, 'CommitIndeterminate')) {
        await send({ type: 'interrupted', line: interrupts.describe() })
        return
      }
      const shown = showError(explainError(err, process.env))
      await send({
        type: 'error',
        error: {
          message: redact(shown.message),
          hint: shown.hint,
          trace: debug ? redact(shown.trace) : '',
        },
      })
    },
  )
})
