import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3'
import { S3BlobStore } from '@s3db/core'
import { inject } from 'vitest'
import type { S3Endpoint } from './minio.js'

/** The S3 endpoint of this run, or undefined when none could be provided (reason printed). */
export function s3Endpoint(): S3Endpoint | undefined {
  const s3 = inject('s3')
  return 'unavailable' in s3 ? undefined : s3
}

/** Why S3 tests are skipped in this run ('' when they run). */
export function s3SkipReason(): string {
  const s3 = inject('s3')
  return 'unavailable' in s3 ? s3.unavailable : ''
}

/** An S3 client for the test endpoint (path-style, as MinIO needs). */
export function s3Client(endpoint: S3Endpoint, overrides: { maxAttempts?: number } = {}): S3Client {
  return new S3Client({
    endpoint: endpoint.endpoint,
    region: endpoint.region,
    forcePathStyle: true,
    credentials: { accessKeyId: endpoint.accessKeyId, secretAccessKey: endpoint.secretAccessKey },
    ...overrides,
  })
}

let counter = 0

/** Creates a fresh bucket with a unique name so test files never share state. */
export async function freshBucket(client: S3Client, label: string): Promise<string> {
  const name = `t-${label}-${process.pid}-${Date.now().toString(36)}-${counter++}`
    .toLowerCase()
    .replace(/[^a-z0-9-]/g, '-')
    .slice(0, 63)
  await client.send(new CreateBucketCommand({ Bucket: name }))
  return name
}

/**
 * Runs `fn` with a fresh bucket on the test endpoint, a temp dir, and the
 * environment child processes need (read by test/engine/fixtures/store-from-env.mjs).
 */
export async function withS3Bucket(
  label: string,
  fn: (ctx: {
    store: S3BlobStore
    spec: string
    env: NodeJS.ProcessEnv
    dir: string
  }) => Promise<void>,
): Promise<void> {
  const endpoint = s3Endpoint()!
  const client = s3Client(endpoint)
  const bucket = await freshBucket(client, label)
  const dir = await mkdtemp(join(tmpdir(), `s3db-${label}-`))
  try {
    await fn({
      store: new S3BlobStore({ client, bucket }),
      spec: `s3:${bucket}`,
      env: {
        S3_ENDPOINT: endpoint.endpoint,
        S3_KEY: endpoint.accessKeyId,
        S3_SECRET: endpoint.secretAccessKey,
      },
      dir,
    })
  } finally {
    client.destroy()
    await rm(dir, { recursive: true, force: true })
  }
}
