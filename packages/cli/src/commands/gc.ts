import { S3db } from '@s3db/core'
import type { CommandSpec } from '../command.js'
import { orNoDatabase, resolveTarget } from '../database.js'
import { parseDuration } from '../duration.js'
import { formatBytes } from '../output.js'
import { JSON_OPTION, report } from '../print.js'

export const gc: CommandSpec = {
  name: 'gc',
  summary: 'Delete snapshots and changesets no longer referenced by the manifest.',
  usage: 'gc <target> [--grace DURATION] [--min-age DURATION] [--dry-run]',
  details: `An object is deleted only once it has been unreachable for longer than the grace
period (default 5m), so readers still working from an older manifest are safe.
Objects younger than --min-age (default 2m) are never deleted, whatever the grace:
a writer may be about to publish them; lower it only when no writer is running.
DURATION: 0, 500ms, 30s, 5m, 1h, 2d. Only objects s3db itself names are touched.
A database with a history retention (\`s3db retention\`) keeps every snapshot and
changeset needed to read, restore or branch any state of that window.`,
  options: {
    grace: { type: 'string', value: 'DURATION', description: 'grace period (default 5m)' },
    'min-age': {
      type: 'string',
      value: 'DURATION',
      description: 'never delete objects younger than this (default 2m)',
    },
    'dry-run': { type: 'boolean', description: 'list what would be deleted, delete nothing' },
    ...JSON_OPTION,
  },
  positionals: { min: 1, max: 1 },
  async run(ctx) {
    const grace =
      ctx.values.grace === undefined
        ? undefined
        : parseDuration(ctx.values.grace as string, '--grace', 'gc')
    const minAge =
      ctx.values['min-age'] === undefined
        ? undefined
        : parseDuration(ctx.values['min-age'] as string, '--min-age', 'gc')
    const dryRun = ctx.values['dry-run'] === true
    const r = await resolveTarget(ctx)
    // Static gc: lists and deletes without downloading the snapshot.
    const result = await orNoDatabase(r, () =>
      S3db.gc(r.store, r.keys.prefix, {
        ...(grace === undefined ? {} : { gracePeriod: grace }),
        ...(minAge === undefined ? {} : { minAge }),
        dryRun,
        signal: ctx.signal,
      }),
    )
    const n = result.deleted.length
    const lines = [
      dryRun
        ? `would delete ${n} object${n === 1 ? '' : 's'} (${formatBytes(result.bytes)})${n > 0 ? ':' : ''}`
        : `deleted ${n} object${n === 1 ? '' : 's'} (${formatBytes(result.bytes)})`,
    ]
    if (dryRun) for (const key of result.deleted) lines.push(`  ${key}`)
    if (result.history.retainMs > 0 && result.history.oldestSeq !== undefined) {
      lines.push(
        `history retention keeps every state back to seq ${result.history.oldestSeq} (s3db retention ${r.target.display})`,
      )
    }
    if (result.retained.length > 0) {
      lines.push(
        `kept ${result.retained.length} unreferenced object${result.retained.length === 1 ? '' : 's'} still inside the grace period`,
      )
    }
    report(ctx, lines.join('\n'), { target: r.target.display, dryRun, ...result })
    return 0
  },
}
