/**
 * Where the database lives, from the environment:
 *
 * - `S3DB_URL=s3://bucket/prefix/` (plus the standard AWS environment): S3, or
 *   MinIO/R2 when `AWS_ENDPOINT_URL` is set (then path-style addressing).
 * - otherwise the filesystem store in `S3DB_DATA_DIR` (default `.data/store`),
 *   which many processes on one machine can share.
 */
import { resolve } from 'node:path'
import type { BlobStore } from '@s3db/core'
import type { S3dbPackages } from './packages'

export interface StoreLocation {
  store: BlobStore
  /** Database prefix inside the store. */
  prefix: string
  /** What to show users: the S3 URL or the directory. */
  describe: string
  kind: 's3' | 'filesystem'
}

/** Same grammar as the `s3db` CLI: `s3://bucket/prefix/`, trailing slash optional. */
export function parseS3Url(url: string): { bucket: string; prefix: string } {
  const match = /^s3:\/\/([a-z0-9][a-z0-9.-]{1,61}[a-z0-9])\/(.+?)\/?$/.exec(url)
  if (!match) throw new Error(`S3DB_URL must look like s3://bucket/prefix/, got ${url}`)
  return { bucket: match[1]!, prefix: `${match[2]!}/` }
}

export async function openStore(
  { core }: S3dbPackages,
  env: NodeJS.ProcessEnv = process.env,
): Promise<StoreLocation> {
  const url = env.S3DB_URL
  if (url) {
    const { bucket, prefix } = parseS3Url(url)
    // The SDK reads credentials, region and AWS_ENDPOINT_URL from the environment.
    // S3-compatible servers on a custom endpoint (MinIO) need path-style URLs.
    const store = new core.S3BlobStore({
      bucket,
      clientConfig: { forcePathStyle: Boolean(env.AWS_ENDPOINT_URL ?? env.AWS_ENDPOINT_URL_S3) },
    })
    return { store, prefix, describe: `s3://${bucket}/${prefix}`, kind: 's3' }
  }
  // Resolved at run time against the server's working directory (the app folder).
  const dir = resolve(/* turbopackIgnore: true */ env.S3DB_DATA_DIR ?? '.data/store')
  return {
    store: await core.FileSystemBlobStore.open(dir),
    prefix: 'board/',
    describe: dir,
    kind: 'filesystem',
  }
}
