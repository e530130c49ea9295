/**
 * The README quick start: a guestbook on the embedded filesystem store.
 *
 *   npm run build && node examples/basic/index.ts "your message"
 *
 * Set S3DB_URL=s3://bucket/prefix/ (plus the standard AWS environment, and
 * AWS_ENDPOINT_URL for MinIO) to use S3 instead. Run it from several terminals
 * at once: every process reads and writes the same database.
 */
import { S3Client } from '@aws-sdk/client-s3'
import { type BlobStore, FileSystemBlobStore, S3BlobStore, S3db } from '@s3db/core'

async function openStore(): Promise<{ store: BlobStore; prefix: string; where: string }> {
  const url = process.env.S3DB_URL
  if (url) {
    const match = /^s3:\/\/([^/]+)\/(.+\/)$/.exec(url)
    if (!match) throw new Error(`S3DB_URL must look like s3://bucket/prefix/, got ${url}`)
    const client = new S3Client({ forcePathStyle: Boolean(process.env.AWS_ENDPOINT_URL) })
    return { store: new S3BlobStore({ client, bucket: match[1]! }), prefix: match[2]!, where: url }
  }
  const dir = process.env.S3DB_DATA_DIR ?? '.data/store'
  return { store: await FileSystemBlobStore.open(dir), prefix: 'guestbook/', where: dir }
}

const { store, prefix, where } = await openStore()
const db = await S3db.open(store, prefix, {
  migrations: [
    {
      version: 1,
      name: 'create entries',
      up: (tx) =>
        tx.exec(
          'CREATE TABLE entries (id INTEGER PRIMARY KEY, message TEXT NOT NULL, pid INTEGER, at TEXT NOT NULL)',
        ),
    },
  ],
})

const message = process.argv[2] ?? `hello from process ${process.pid}`
// update() is a serializable transaction: if another process commits first, the
// callback re-runs on the newer state. Keep side effects out of it.
const id = await db.update((tx) => {
  const { lastInsertRowid } = tx.run('INSERT INTO entries (message, pid, at) VALUES (?, ?, ?)', [
    message,
    process.pid,
    new Date().toISOString(),
  ])
  return Number(lastInsertRowid)
})

const entries = await db.view((tx) =>
  tx.all<{ id: number; message: string; at: string }>(
    'SELECT id, message, at FROM entries ORDER BY id DESC LIMIT 10',
  ),
)
console.log(`s3db guestbook in ${where} (database ${prefix}), you wrote entry #${id}:`)
for (const e of entries) console.log(`  #${e.id}  ${e.at}  ${e.message}`)
const stats = db.stats()
console.log(
  `seq ${stats.seq}, ${stats.logLength} changesets since the last snapshot, ${stats.requests.get} GETs and ${stats.requests.put} PUTs this run`,
)
await db.close()
