/**
 * Opens the counter database from the environment, as a Lambda would:
 * `S3DB_URL=s3://bucket/prefix/` (credentials and region from the standard AWS
 * environment, MinIO/R2 through AWS_ENDPOINT_URL), else the filesystem store in
 * S3DB_DATA_DIR (default `.data/store`) for trying it on one machine.
 */
import { resolve } from 'node:path'
import {
  type BlobStore,
  type EventHandler,
  FileSystemBlobStore,
  type Migration,
  S3BlobStore,
  S3db,
} from '@s3db/core'

export async function openStore(
  env: NodeJS.ProcessEnv = process.env,
): Promise<{ store: BlobStore; prefix: string }> {
  const url = env.S3DB_URL
  if (url) {
    const match = /^s3:\/\/([a-z0-9][a-z0-9.-]{1,61}[a-z0-9])\/(.+?)\/?$/.exec(url)
    if (!match) throw new Error(`S3DB_URL must look like s3://bucket/prefix/, got ${url}`)
    const forcePathStyle = Boolean(env.AWS_ENDPOINT_URL ?? env.AWS_ENDPOINT_URL_S3)
    return {
      store: new S3BlobStore({ bucket: match[1]!, clientConfig: { forcePathStyle } }),
      prefix: `${match[2]!}/`,
    }
  }
  const dir = resolve(env.S3DB_DATA_DIR ?? '.data/store')
  return { store: await FileSystemBlobStore.open(dir), prefix: 'lambda-counters/' }
}

/** The counter database's schema, applied by the first open. */
export const migrations: Migration[] = [
  {
    version: 1,
    name: 'counters and invocations',
    up: (tx) =>
      tx.exec(`
        CREATE TABLE counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
        CREATE TABLE invocations (
          request_id TEXT PRIMARY KEY,
          counter TEXT NOT NULL,
          value INTEGER NOT NULL,
          at TEXT NOT NULL
        );`),
  },
]

export async function openDatabase(onEvent?: EventHandler): Promise<S3db> {
  const { store, prefix } = await openStore()
  // No localPath: the replica is a temp file, in /tmp on Lambda, which lives as
  // long as the warm container; a new container downloads the latest snapshot.
  return S3db.open(store, prefix, {
    onEvent,
    // Every container increments the same row, so under a burst most commits
    // lose races (invoke-many prints the attempts: with 16 containers a few
    // invocations needed 30 to 55). Allow more than the default 50 before an
    // invocation fails with WriteConflict; a real app would shard hot counters.
    maxRetries: 200,
    migrations,
  })
}
