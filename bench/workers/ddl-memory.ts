/**
 * One measurement of bench/scenarios/ddl-memory.ts, in a process of its own so
 * that its peak RSS is its own: opens the database on a warm replica, then runs
 * one commit of `kind` and prints the peak RSS it added (kernel high-water mark).
 *
 * node ddl-memory.ts <store dir> <replica path> <changeset|ddl|serialize>
 */
import { FileSystemBlobStore, S3db } from '@s3db/core'
import Database from 'better-sqlite3'

const [root, localPath, kind] = process.argv.slice(2) as [string, string, string]
const store = await FileSystemBlobStore.open(root)
const db = await S3db.open(store, 'bench/ddl/', { localPath, autoCompact: false })
await db.view((tx) => tx.get('SELECT count(*) FROM blobs'))
globalThis.gc?.()
const before = process.memoryUsage().rss
const peakBefore = process.resourceUsage().maxRSS * 1024
const started = performance.now()
if (kind === 'changeset') {
  await db.update((tx) => tx.run('UPDATE blobs SET data = randomblob(100) WHERE id = 1'))
} else if (kind === 'ddl') {
  await db.update((tx) => tx.exec(`CREATE TABLE extra_${Date.now()} (id INTEGER PRIMARY KEY)`))
} else {
  // What the previous DDL path cost: the whole database serialised into memory
  // (the upload then sent that buffer).
  const raw = new Database(localPath, { readonly: true })
  const image = raw.serialize()
  raw.close()
  if (image.byteLength === 0) throw new Error('empty image')
}
const ms = performance.now() - started
const peak = process.resourceUsage().maxRSS * 1024
console.log(
  JSON.stringify({
    kind,
    ms: Math.round(ms),
    addedMiB: Math.round((Math.max(peak, before) - Math.max(before, peakBefore)) / 1048576),
    peakMiB: Math.round(peak / 1048576),
  }),
)
await db.close()
