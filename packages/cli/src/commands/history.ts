/**
 * History commands: `log`, `restore`, `branch`, `retention`.
 *
 * @module
 */
import { S3db } from '@s3db/core'
import { DatabaseKeys, readHistory, resolvePoint } from '@s3db/core/internal'
import type { CommandSpec } from '../command.js'
import { orNoDatabase, parseAt, resolveTarget } from '../database.js'
import { CliError, UsageError } from '../errors.js'
import { formatBytes, plural, table } from '../output.js'
import { JSON_OPTION, report } from '../print.js'
import { ProgressBar, progressEnabled } from '../progress.js'
import { parseTarget } from '../target.js'

function iso(ms: number | undefined): string {
  return ms === undefined ? '?' : new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z')
}

export const log: CommandSpec = {
  name: 'log',
  summary: 'List past commits: seq, time, size and rows changed per table.',
  usage: 'log <target> [--limit N] [--no-changes] [--json]',
  details: `Newest first. Each changeset's rows are counted per table (+inserted ~updated
-deleted), one GET per commit shown; --no-changes skips that. A snapshot commit (a
migration or other schema change, push, restore) shows as "snapshot". The log reaches
back as far as the database's history retention keeps (\`s3db retention\`).`,
  options: {
    limit: { type: 'string', value: 'N', description: 'commits to show (default 20)' },
    'no-changes': { type: 'boolean', description: 'do not read changesets to count rows' },
    ...JSON_OPTION,
  },
  positionals: { min: 1, max: 1 },
  async run(ctx) {
    const limitText = (ctx.values.limit as string | undefined) ?? '20'
    const limit = Number(limitText)
    if (!/^\d+$/.test(limitText) || limit <= 0)
      throw new UsageError(`invalid --limit ${JSON.stringify(limitText)}: a positive number`, 'log')
    const r = await resolveTarget(ctx)
    const result = await orNoDatabase(r, () =>
      S3db.log(r.store, r.keys.prefix, {
        limit,
        changes: ctx.values['no-changes'] !== true,
        signal: ctx.signal,
      }),
    )
    const rows = result.entries.map((e) => [
      String(e.seq),
      iso(e.time),
      formatBytes(e.size),
      e.kind === 'snapshot'
        ? `snapshot (schema ${e.schemaVersion})`
        : e.tables
          ? Object.entries(e.tables)
              .map(([t, c]) =>
                [
                  t,
                  c.inserts ? `+${c.inserts}` : '',
                  c.updates ? `~${c.updates}` : '',
                  c.deletes ? `-${c.deletes}` : '',
                ]
                  .filter(Boolean)
                  .join(' '),
              )
              .join(', ')
          : '',
    ])
    const human = `${table(['seq', 'time', 'size', 'changes'], rows)}${
      result.oldestSeq > 0
        ? `history retained back to seq ${result.oldestSeq}`
        : 'history retained back to the creation (seq 0)'
    }\n`
    report(ctx, human, { target: r.target.display, ...result })
    return 0
  },
}

export const restore: CommandSpec = {
  name: 'restore',
  summary: 'Undo: publish a past state as a new commit (seq moves forward).',
  usage: 'restore <target> --at SEQ|TIME [--yes] [--dry-run]',
  details: `Rebuilds the state at --at (a seq, or an ISO time like 2026-12-06T10:00Z: the
state current then) and publishes it as a new snapshot commit: running processes see an
ordinary commit, and the restore can itself be undone with another restore. It prints
the commits whose changes it undoes. Refused without --yes when the past state has
another schema version (s3db migrations): apps then run their newer migrations again
at their next open. Commits made while the restore runs are undone too (it says how
many). The state must still be retained (\`s3db retention\`).`,
  options: {
    at: { type: 'string', value: 'SEQ|TIME', description: 'the state to restore (required)' },
    yes: { type: 'boolean', short: 'y', description: 'restore even across a schema change' },
    'dry-run': {
      type: 'boolean',
      description: 'say what would be restored and lost, write nothing',
    },
    ...JSON_OPTION,
  },
  positionals: { min: 1, max: 1 },
  async run(ctx) {
    const at = parseAt(ctx.values.at, 'restore')
    if (!at)
      throw new UsageError('--at is required (a seq, or a time like 2026-12-06T10:00Z)', 'restore')
    const r = await resolveTarget(ctx)
    // The plan first: what would be lost, and whether the schema changes.
    const h = await orNoDatabase(r, () => readHistory(r.store, r.keys, ctx.signal))
    const seq = resolvePoint(h, at)
    const target = h.commits.find((c) => c.seq === seq)!
    const current = h.manifest
    const lost = current.seq - seq
    const plan = `${r.target.display} is at seq ${current.seq}; --at names seq ${seq} (${iso(target.effectiveTime)})`
    if (lost === 0) {
      report(ctx, `${plan}: nothing to restore`, { target: r.target.display, restored: false, seq })
      return 0
    }
    const lostLine = `the changes of ${plural(lost, 'commit')} (seq ${seq + 1} to ${current.seq}) would be undone`
    const schemaChanges = target.schemaVersion !== current.schemaVersion
    const schemaLine = schemaChanges
      ? `the schema version goes from ${current.schemaVersion} back to ${target.schemaVersion}: apps run their migrations above ${target.schemaVersion} again at their next open`
      : undefined
    if (ctx.values['dry-run']) {
      report(
        ctx,
        [
          `${plan}`,
          lostLine,
          ...(schemaLine ? [schemaLine] : []),
          'dry run: nothing was written',
        ].join('\n'),
        {
          target: r.target.display,
          dryRun: true,
          seq,
          current: current.seq,
          lost,
          schemaVersion: { before: current.schemaVersion, after: target.schemaVersion },
        },
      )
      return 0
    }
    if (schemaChanges && ctx.values.yes !== true)
      throw new CliError(
        `refusing to restore: ${schemaLine}; ${lostLine}`,
        'run again with --yes to restore anyway (or --dry-run to see the plan)',
      )
    ctx.io.stderr.write(`${plan}\n${lostLine}\n`)
    const bar = new ProgressBar(ctx.io.stderr, progressEnabled(ctx.io, ctx.env, !!ctx.values.json))
    const result = await S3db.restore(r.store, r.keys.prefix, {
      at: { seq },
      allowSchemaChange: ctx.values.yes === true,
      signal: ctx.signal,
      onProgress: bar.onEvent,
    }).finally(() => bar.end())
    report(
      ctx,
      `restored ${r.target.display} to the state of seq ${result.fromSeq} as seq ${result.seq}; undid ${plural(result.discarded.count, 'commit')} (seq ${result.discarded.first} to ${result.discarded.last}). Undo this with: s3db restore ${ctx.positionals[0]} --at ${result.seq - 1}`,
      { target: r.target.display, ...result },
    )
    return 0
  },
}

export const branch: CommandSpec = {
  name: 'branch',
  summary: 'Copy a database (now or at a past state) into a new, independent one.',
  usage: 'branch <target> <new-target> [--at SEQ|TIME]',
  details: `The new database (same store: same bucket, or same directory) starts at the
source's seq with its snapshot and changesets copied under its own prefix: on S3 with
CopyObject (one request per object, no bytes through this machine), on the filesystem
store as hard links. The source's gc never touches the copies. Costs: 1 + (changesets
since the last snapshot) copies, plus the bytes stored again (on S3).`,
  options: {
    at: {
      type: 'string',
      value: 'SEQ|TIME',
      description: 'a past state (default: the current one)',
    },
    ...JSON_OPTION,
  },
  positionals: { min: 2, max: 2 },
  async run(ctx) {
    const at = parseAt(ctx.values.at, 'branch')
    const r = await resolveTarget(ctx)
    const dest = parseTarget(ctx.positionals[1])
    const same =
      dest.kind === r.target.kind &&
      (dest.kind === 's3'
        ? dest.bucket === (r.target as typeof dest).bucket
        : dest.root === (r.target as typeof dest).root)
    if (!same)
      throw new UsageError(
        `branch copies inside one store: ${dest.display} is not in the store of ${r.target.display} (to copy across stores, pull and init)`,
        'branch',
      )
    const bar = new ProgressBar(ctx.io.stderr, progressEnabled(ctx.io, ctx.env, !!ctx.values.json))
    const started = performance.now()
    const result = await orNoDatabase(r, () =>
      S3db.branch(r.store, r.keys.prefix, new DatabaseKeys(dest.prefix).prefix, {
        at,
        signal: ctx.signal,
        onProgress: bar.onEvent,
      }),
    ).finally(() => bar.end())
    const ms = Math.round(performance.now() - started)
    report(
      ctx,
      `branched ${r.target.display} at seq ${result.seq} into ${dest.display}: ${plural(result.objects, 'object')} (${formatBytes(result.bytes)}) copied ${result.serverSide ? 'inside the store' : 'through this machine'} in ${ms} ms`,
      { target: r.target.display, branch: dest.display, durationMs: ms, ...result },
    )
    return 0
  },
}

export const retention: CommandSpec = {
  name: 'retention',
  summary: 'Show or set how long past states stay readable (history).',
  usage: 'retention <target> [DURATION]',
  details: `With DURATION (30m, 12h, 7d, 2w; 0 turns history off), records it in the database
(<prefix>history/retention.json): every s3db client's gc and \`s3db gc\` then keep
every snapshot and changeset needed to read, restore or branch any state of that
window. Without, prints the setting. The Go client's gc does not know it.`,
  options: { ...JSON_OPTION },
  positionals: { min: 1, max: 2 },
  async run(ctx) {
    const r = await resolveTarget(ctx)
    const given = ctx.positionals[1]
    const result = await orNoDatabase(r, () =>
      S3db.retention(r.store, r.keys.prefix, given, { signal: ctx.signal }),
    ).catch((err: unknown) => {
      if ((err as { code?: string }).code === 'InvalidArgument')
        throw new UsageError((err as Error).message, 'retention')
      throw err
    })
    const human = (ms: number) => {
      if (ms === 0) return 'off (gc deletes the past after its grace period)'
      for (const [unit, size] of [
        ['w', 7 * 86_400_000],
        ['d', 86_400_000],
        ['h', 3_600_000],
        ['m', 60_000],
        ['s', 1000],
      ] as const)
        if (ms % size === 0) return `${ms / size}${unit}`
      return `${ms}ms`
    }
    report(
      ctx,
      given === undefined
        ? `history retention of ${r.target.display}: ${human(result.retainMs)}`
        : `history retention of ${r.target.display} ${result.changed ? 'set to' : 'already'} ${human(result.retainMs)}`,
      { target: r.target.display, ...result },
    )
    return 0
  },
}
