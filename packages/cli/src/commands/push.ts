import { readFile, stat } from 'node:fs/promises'
import { resolve } from 'node:path'
import { type PulledSeq, type PushGuard, S3db, SeqMismatchError, seqFileFor } from '@s3db/core'
import { storeIdentity, writePulledSeq } from '@s3db/core/internal'
import type { CommandSpec } from '../command.js'
import { databaseExists, noDatabase, resolveTarget, whyCreateFailed } from '../database.js'
import { CliError, UsageError } from '../errors.js'
import { formatBytes } from '../output.js'
import { JSON_OPTION, report } from '../print.js'
import { ProgressBar, progressEnabled } from '../progress.js'

/** Reads FILE.s3db-seq, which pull (and push) wrote. */
async function readPulledSeq(file: string, target: string): Promise<PulledSeq> {
  const seqFile = seqFileFor(file)
  let text: string
  try {
    text = await readFile(seqFile, 'utf8')
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err
    throw new CliError(
      `cannot tell which version ${file} was pulled at: ${seqFile} does not exist`,
      `pull first (s3db pull ${target} -o ${file}) and edit that file, or push with --force to overwrite whatever the database holds`,
    )
  }
  let parsed: unknown
  try {
    parsed = JSON.parse(text)
  } catch {
    parsed = undefined
  }
  const p = parsed as Partial<PulledSeq> | undefined
  if (typeof p?.prefix !== 'string' || !Number.isSafeInteger(p.seq) || (p.seq as number) < 0) {
    throw new CliError(
      `${seqFile} is not a valid pull record`,
      `pull again, or push with --force to overwrite whatever the database holds`,
    )
  }
  const store = typeof p.store === 'string' ? p.store : undefined
  const head = typeof p.head === 'string' ? p.head : undefined
  return { prefix: p.prefix, seq: p.seq as number, store, head }
}

export const push: CommandSpec = {
  name: 'push',
  summary: 'Publish a SQLite file as the database\u2019s new contents.',
  usage: 'push <target> -f FILE [--create] [--force]',
  details: `Refuses (exit 1) when the database moved since FILE was pulled: the seq it was
pulled at is read from FILE.s3db-seq, written by \`s3db pull\`. After a push the
record is updated, so the same file can be edited and pushed again.

  --create  create the database from FILE when none exists at <target>
  --force   replace the database whatever happened since the pull (their writes are lost)

Example:
  s3db pull ./data/mydb -o db.sqlite && sqlite3 db.sqlite 'UPDATE ...' && s3db push ./data/mydb -f db.sqlite`,
  options: {
    file: { type: 'string', short: 'f', value: 'FILE', description: 'SQLite file to publish' },
    create: { type: 'boolean', description: 'create the database when it does not exist' },
    force: { type: 'boolean', description: 'overwrite even if the database moved since the pull' },
    ...JSON_OPTION,
  },
  positionals: { min: 1, max: 1 },
  async run(ctx) {
    const given = ctx.values.file as string | undefined
    if (!given) throw new UsageError('missing -f FILE: the SQLite file to push', 'push')
    const file = resolve(given)
    if (
      !(await stat(file).then(
        (st) => st.isFile(),
        () => false,
      ))
    ) {
      throw new CliError(`cannot push ${given}: no such file`, 'check the -f path')
    }
    const r = await resolveTarget(ctx, { create: ctx.values.create === true })
    const bar = new ProgressBar(ctx.io.stderr, progressEnabled(ctx.io, ctx.env, !!ctx.values.json))
    const options = { signal: ctx.signal, onProgress: bar.onEvent }
    const t = ctx.positionals[0]!

    if (!(await databaseExists(r, ctx.signal))) {
      if (!ctx.values.create) {
        const err = noDatabase(r.target)
        throw new CliError(err.message, `add --create to create it from ${given}`)
      }
      const result = await S3db.init(r.store, r.keys.prefix, { ...options, from: file })
        .catch(async (err: unknown) => {
          throw await whyCreateFailed(r, err, ctx.signal)
        })
        .finally(() => bar.end())
      await writePulledSeq(file, r.store, r.keys.prefix, result.seq, result.snapshotKey)
      report(
        ctx,
        `created database ${r.target.display} from ${given} (seq ${result.seq}, ${formatBytes(result.bytes)})`,
        { target: r.target.display, created: true, ...result },
      )
      return 0
    }

    let guard: PushGuard
    if (ctx.values.force) {
      guard = { force: true }
    } else {
      const pulled = await readPulledSeq(file, t)
      if (pulled.prefix !== r.keys.prefix) {
        throw new CliError(
          `${given} was pulled from database prefix "${pulled.prefix}", not "${r.keys.prefix}"`,
          'push it to the database it came from, or use --force to replace this one with it',
        )
      }
      const here = storeIdentity(r.store)
      if (pulled.store !== undefined && pulled.store !== here) {
        throw new CliError(
          `${given} was pulled from ${pulled.store}, not ${here}`,
          'push it to the store it came from, or use --force to replace this database with it',
        )
      }
      guard = { expectedSeq: pulled.seq, expectedHead: pulled.head }
    }
    let result: Awaited<ReturnType<typeof S3db.push>>
    try {
      result = await S3db.push(r.store, r.keys.prefix, file, guard, options).finally(() =>
        bar.end(),
      )
    } catch (err) {
      if (err instanceof SeqMismatchError) {
        const { expectedSeq, actualSeq } = err
        throw new CliError(
          expectedSeq === actualSeq
            ? `refusing to push: the database was replaced since ${given} was pulled (still at seq ${actualSeq}, but another client pushed or migrated); pushing would overwrite that`
            : `refusing to push: the database moved since ${given} was pulled (pulled at seq ${expectedSeq}, now at seq ${actualSeq}); pushing would overwrite those writes`,
          `pull again (s3db pull ${t} -o ${given}), redo your edit and push; or push with --force to overwrite their writes`,
        )
      }
      throw err
    }
    await writePulledSeq(file, r.store, r.keys.prefix, result.seq, result.snapshotKey)
    report(
      ctx,
      `pushed ${given} to ${r.target.display}: now at seq ${result.seq} (${formatBytes(result.bytes)})`,
      { target: r.target.display, created: false, ...result },
    )
    return 0
  },
}
