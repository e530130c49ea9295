/**
 * The store the scripts of this project use: the filesystem store in ./data, or
 * the bucket TEST_BUCKET on the S3 endpoint of the standard AWS environment
 * (AWS_ENDPOINT_URL, credentials, region) when TEST_BUCKET is set.
 */
import { S3Client } from '@aws-sdk/client-s3'
import { type BlobStore, FileSystemBlobStore, S3BlobStore } from '@s3db/core'

export async function openStore(): Promise<BlobStore> {
  const bucket = process.env.TEST_BUCKET
  if (bucket) return new S3BlobStore({ client: new S3Client({ forcePathStyle: true }), bucket })
  return FileSystemBlobStore.open('./data')
}
