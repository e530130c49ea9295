import { S3db } from '@s3db/core'
import type { CommandSpec } from '../command.js'
import { resolveTarget, whyCreateFailed } from '../database.js'
import { formatBytes } from '../output.js'
import { JSON_OPTION, report } from '../print.js'
import { ProgressBar, progressEnabled } from '../progress.js'

export const init: CommandSpec = {
  name: 'init',
  summary: 'Create a database at <target>: empty, or seeded from a SQLite file.',
  usage: 'init <target> [--from FILE]',
  details: `Refuses to overwrite an existing database (use push for that).

Examples:
  s3db init s3://my-bucket/mydb/
  s3db init ./data/mydb --from seed.sqlite`,
  options: {
    from: { type: 'string', value: 'FILE', description: 'seed the database with this SQLite file' },
    ...JSON_OPTION,
  },
  positionals: { min: 1, max: 1 },
  async run(ctx) {
    const r = await resolveTarget(ctx, { create: true })
    const from = ctx.values.from as string | undefined
    const bar = new ProgressBar(ctx.io.stderr, progressEnabled(ctx.io, ctx.env, !!ctx.values.json))
    const result = await S3db.init(r.store, r.keys.prefix, {
      from,
      signal: ctx.signal,
      onProgress: bar.onEvent,
    })
      .catch(async (err: unknown) => {
        throw await whyCreateFailed(r, err, ctx.signal)
      })
      .finally(() => bar.end())
    report(
      ctx,
      `created database ${r.target.display} (seq ${result.seq}, snapshot ${formatBytes(result.bytes)}${from ? ` from ${from}` : ''})`,
      { target: r.target.display, ...result },
    )
    return 0
  },
}
