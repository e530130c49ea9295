/** History on a real S3 API (MinIO): the same suite as the memory and filesystem stores. */
import { describe } from 'vitest'
import { historySuite } from '../../packages/core/test/engine/history-suite.js'
import { s3SkipReason, withS3Bucket } from '../support/s3.js'

const skip = s3SkipReason()
if (skip) console.log(`S3 history tests skipped: ${skip}`)

describe.skipIf(Boolean(skip))('MinIO', () => {
  historySuite('MinIO', (fn) => withS3Bucket('history', ({ store }) => fn(store)))
})
