/** The stores scenarios run against: memory with injected latency, filesystem, MinIO. */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3'
import { type BlobStore, FileSystemBlobStore, MemoryBlobStore, S3BlobStore } from '@s3db/core'
import { CountingBlobStore, LatencyBlobStore } from '@s3db/core/internal'
import type { BenchOptions } from './measure.ts'

export interface BenchStore {
  name: string
  store: BlobStore
  counter: CountingBlobStore
  /** Root dir for a filesystem store (other processes open it too). */
  root?: string
  /** The bucket of an S3 store. */
  bucket?: string
  cleanup(): Promise<void>
}

let bucketSeq = 0

export async function openStore(
  kind: 'memory' | 'filesystem' | 's3',
  opts: BenchOptions,
): Promise<BenchStore> {
  if (kind === 'memory') {
    const counter = new CountingBlobStore(new MemoryBlobStore())
    const store = new LatencyBlobStore(counter, {
      latencyMs: opts.latencyMs,
      bytesPerSecond: opts.bytesPerSecond ?? 0,
    })
    const bw = opts.bytesPerSecond ? `,${Math.round(opts.bytesPerSecond / 1e6)}MB/s` : ''
    return { name: `memory+${opts.latencyMs}ms${bw}`, store, counter, cleanup: async () => {} }
  }
  if (kind === 'filesystem') {
    const root = await mkdtemp(join(tmpdir(), 's3db-bench-'))
    const fs = await FileSystemBlobStore.open(root)
    const counter = new CountingBlobStore(fs)
    return {
      name: 'filesystem',
      store: counter,
      counter,
      root,
      cleanup: async () => {
        await fs.close()
        await rm(root, { recursive: true, force: true })
      },
    }
  }
  const s3 = opts.s3
  if (!s3) throw new Error('no S3 endpoint')
  const client = new S3Client({
    endpoint: s3.endpoint,
    region: s3.region,
    forcePathStyle: true,
    credentials: { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey },
  })
  const bucket = `bench-${process.pid}-${Date.now().toString(36)}-${bucketSeq++}`
  await client.send(new CreateBucketCommand({ Bucket: bucket }))
  const counter = new CountingBlobStore(new S3BlobStore({ client, bucket }))
  return { name: 'minio', store: counter, counter, bucket, cleanup: async () => client.destroy() }
}

/** The stores a scenario should cover in this run. */
export function storeKinds(opts: BenchOptions): Array<'memory' | 'filesystem' | 's3'> {
  return opts.s3 ? ['memory', 'filesystem', 's3'] : ['memory', 'filesystem']
}
