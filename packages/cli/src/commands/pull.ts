import { stat } from 'node:fs/promises'
import { dirname, resolve } from 'node:path'
import { isS3dbError, S3db, seqFileFor } from '@s3db/core'
import type { CommandSpec } from '../command.js'
import { noDatabase, resolveTarget } from '../database.js'
import { CliError, UsageError } from '../errors.js'
import { formatBytes } from '../output.js'
import { JSON_OPTION, report } from '../print.js'
import { ProgressBar, progressEnabled } from '../progress.js'

export const pull: CommandSpec = {
  name: 'pull',
  summary: 'Download the current database into a plain SQLite file.',
  usage: 'pull <target> -o FILE',
  details: `Replaces FILE, and records the seq it was pulled at in FILE.s3db-seq so that a
later \`s3db push\` can refuse to overwrite writes made in the meantime.

Example:
  s3db pull s3://my-bucket/mydb/ -o local.sqlite && sqlite3 local.sqlite`,
  options: {
    output: { type: 'string', short: 'o', value: 'FILE', description: 'SQLite file to write' },
    ...JSON_OPTION,
  },
  positionals: { min: 1, max: 1 },
  async run(ctx) {
    const file = ctx.values.output as string | undefined
    if (!file) throw new UsageError('missing -o FILE: where to write the database', 'pull')
    const outDir = dirname(resolve(file))
    if (
      !(await stat(outDir).then(
        (st) => st.isDirectory(),
        () => false,
      ))
    ) {
      throw new CliError(
        `cannot write ${file}: directory ${outDir} does not exist`,
        'create the directory or choose another -o path',
      )
    }
    const r = await resolveTarget(ctx)
    const bar = new ProgressBar(ctx.io.stderr, progressEnabled(ctx.io, ctx.env, !!ctx.values.json))
    const result = await S3db.pull(r.store, r.keys.prefix, file, {
      signal: ctx.signal,
      onProgress: bar.onEvent,
    })
      .catch((err: unknown) => {
        if (isS3dbError(err, 'NotFound') && (err as { key?: string }).key === r.keys.manifest) {
          throw noDatabase(r.target)
        }
        throw err
      })
      .finally(() => bar.end())
    const seqFile = seqFileFor(resolve(file))
    report(
      ctx,
      `pulled ${r.target.display} at seq ${result.seq} into ${file} (${formatBytes(result.bytes)}); seq recorded in ${seqFile}`,
      { target: r.target.display, file: resolve(file), seqFile, ...result },
    )
    return 0
  },
}
