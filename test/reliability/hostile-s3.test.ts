/** The hostile-store suite (test/reliability/hostile/) on MinIO, CLI included. */
import { S3BlobStore } from '@s3db/core'
import { afterAll, beforeAll, describe } from 'vitest'
import { freshBucket, s3Client, s3Endpoint, s3SkipReason } from '../support/s3.js'
import { CASES } from './hostile/cases.js'
import { hostileSuite } from './hostile/run.js'

const skip = s3SkipReason()
if (skip) console.log(`hostile S3 suite SKIPPED: ${skip}`)

describe.skipIf(Boolean(skip))('hostile store (MinIO)', () => {
  let client: ReturnType<typeof s3Client>
  let bucket = ''
  let runs = 0
  // The CLI runs in this process and builds its S3 client from the standard AWS
  // environment, as `s3db` would.
  const env: Record<string, string> = {}
  const saved: Record<string, string | undefined> = {}
  beforeAll(async () => {
    const endpoint = s3Endpoint()!
    client = s3Client(endpoint)
    bucket = await freshBucket(client, 'hostile')
    Object.assign(env, {
      AWS_ENDPOINT_URL: endpoint.endpoint,
      AWS_ACCESS_KEY_ID: endpoint.accessKeyId,
      AWS_SECRET_ACCESS_KEY: endpoint.secretAccessKey,
      AWS_REGION: endpoint.region,
    })
    for (const [k, v] of Object.entries(env)) {
      saved[k] = process.env[k]
      process.env[k] = v
    }
  })
  afterAll(() => {
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) delete process.env[k]
      else process.env[k] = v
    }
    client?.destroy()
  })
  hostileSuite(
    'MinIO',
    async () => {
      const root = `run-${runs++}/`
      return {
        store: new S3BlobStore({ client, bucket }),
        root,
        target: (prefix) => `s3://${bucket}/${prefix}`,
        env,
        dispose: async () => {},
      }
    },
    CASES,
  )
})
