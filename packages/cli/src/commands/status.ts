import type { ListEntry } from '@s3db/core'
import { epochOf } from '@s3db/core/internal'
import type { CommandSpec } from '../command.js'
import { fetchManifest, resolveTarget } from '../database.js'
import { formatBytes, keyValues, plural } from '../output.js'
import { JSON_OPTION, report } from '../print.js'

interface Counts {
  count: number
  bytes: number
}

const zero = (): Counts => ({ count: 0, bytes: 0 })
const add = (c: Counts, e: ListEntry) => {
  c.count++
  c.bytes += e.size
}

export const status: CommandSpec = {
  name: 'status',
  summary: 'Show where the database is: seq, schema, snapshot, log and stored objects.',
  usage: 'status <target>',
  details: `Reads the manifest and lists the objects under the prefix; downloads nothing else.
"unreferenced" objects are old snapshots and changesets that \`s3db gc\` can delete.`,
  options: { ...JSON_OPTION },
  positionals: { min: 1, max: 1 },
  async run(ctx) {
    const r = await resolveTarget(ctx)
    const { manifest: m, etag, lastModified } = await fetchManifest(r, ctx.signal)
    const referenced = new Set([m.snapshot.key, ...m.log.map((e) => e.key)])
    const objects = {
      snapshots: zero(),
      changesets: zero(),
      history: zero(),
      other: zero(),
      total: zero(),
    }
    const unreferenced = zero()
    for await (const entry of r.store.list(r.keys.prefix, { signal: ctx.signal })) {
      const rel = entry.key.slice(r.keys.prefix.length)
      add(objects.total, entry)
      if (rel.startsWith('snapshots/')) add(objects.snapshots, entry)
      else if (rel.startsWith('changesets/')) add(objects.changesets, entry)
      else if (rel.startsWith('history/')) add(objects.history, entry)
      else if (rel !== 'manifest.json') add(objects.other, entry)
      // What gc would consider: objects s3db names that the manifest does not reference.
      if (r.keys.isDataObject(entry.key) && !referenced.has(entry.key)) add(unreferenced, entry)
    }
    const logBytes = m.log.reduce((n, e) => n + e.size, 0)
    const json = {
      target: r.target.display,
      seq: m.seq,
      schemaVersion: m.schemaVersion,
      compatSchemaVersion: m.compatSchemaVersion ?? m.schemaVersion,
      formatVersion: m.formatVersion,
      snapshot: m.snapshot,
      epoch: epochOf(m.snapshot.key),
      log: { length: m.log.length, bytes: logBytes },
      manifest: { etag, lastModified: lastModified?.toISOString() },
      objects,
      unreferenced,
    }
    const pairs: [string, string][] = [
      ['database', r.target.display],
      ['seq', String(m.seq)],
      [
        'schema version',
        `${m.schemaVersion}${m.compatSchemaVersion !== undefined && m.compatSchemaVersion !== m.schemaVersion ? ` (compatible down to ${m.compatSchemaVersion})` : ''}`,
      ],
      ['format version', String(m.formatVersion)],
      ['snapshot', `${m.snapshot.key} (seq ${m.snapshot.seq}, ${formatBytes(m.snapshot.size)})`],
      ['epoch', json.epoch],
      [
        'log',
        `${m.log.length} changeset${m.log.length === 1 ? '' : 's'}, ${formatBytes(logBytes)}`,
      ],
      [
        'objects',
        `${objects.total.count} (${plural(objects.snapshots.count, 'snapshot')}, ${plural(objects.changesets.count, 'changeset')}, ${objects.history.count} history, ${objects.other.count} other), ${formatBytes(objects.total.bytes)}`,
      ],
      [
        'unreferenced',
        `${unreferenced.count} object${unreferenced.count === 1 ? '' : 's'}, ${formatBytes(unreferenced.bytes)}${unreferenced.count > 0 ? ' (s3db gc deletes them after the grace period, unless the history retention keeps them)' : ''}`,
      ],
      ['manifest', `updated ${lastModified?.toISOString() ?? 'unknown'}, etag ${etag}`],
    ]
    report(ctx, keyValues(pairs), json)
    return 0
  },
}
