import type { CommandSpec } from '../command.js'
import { openDatabase, resolveTarget } from '../database.js'
import { formatBytes } from '../output.js'
import { JSON_OPTION, report } from '../print.js'
import { ProgressBar, progressEnabled } from '../progress.js'

export const compact: CommandSpec = {
  name: 'compact',
  summary: 'Fold the changeset log into a new snapshot (readers then start faster).',
  usage: 'compact <target>',
  details: `Never blocks writers. Old objects stay until \`s3db gc\` removes them.`,
  options: { ...JSON_OPTION },
  positionals: { min: 1, max: 1 },
  async run(ctx) {
    const r = await resolveTarget(ctx)
    const bar = new ProgressBar(ctx.io.stderr, progressEnabled(ctx.io, ctx.env, !!ctx.values.json))
    const db = await openDatabase(r, { signal: ctx.signal, onEvent: bar.onEvent })
    try {
      const result = await db.compact({ signal: ctx.signal }).finally(() => bar.end())
      report(
        ctx,
        result.compacted
          ? `compacted ${r.target.display}: folded ${result.folded} changeset${result.folded === 1 ? '' : 's'} into ${result.snapshotKey} (${formatBytes(result.snapshotBytes)}) at seq ${result.seq}`
          : `nothing to compact: ${r.target.display} is at seq ${result.seq} with an empty log (or another process compacted first)`,
        { target: r.target.display, ...result },
      )
      return 0
    } finally {
      await db.close()
    }
  },
}
