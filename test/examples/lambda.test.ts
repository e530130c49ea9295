/**
 * examples/lambda: its own script invokes the handler 200 times, 16 warm
 * containers at once (module instances in 4 processes), against MinIO and the
 * filesystem store, and must report an exact counter (== successful
 * invocations), one distinct value per invocation, and an idempotent retry.
 */
import { execFile } from 'node:child_process'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { afterAll, describe, expect, it } from 'vitest'
import { tempDir } from '../../packages/core/test/helpers.js'
import { freshBucket, s3Client, s3Endpoint, s3SkipReason } from '../support/s3.js'

const execFileP = promisify(execFile)
const script = fileURLToPath(new URL('../../examples/lambda/invoke-many.ts', import.meta.url))
const s3Skip = s3SkipReason()
if (s3Skip) console.log(`lambda example on MinIO SKIPPED: ${s3Skip}`)
const cleanups: Array<() => Promise<void>> = []
afterAll(async () => {
  for (const cleanup of cleanups) await cleanup()
})

interface Summary {
  ok: number
  failed: number
  counter: number
  wallMs: number
}

/** Runs invoke-many.ts; resolves with its printed report and summary (exit code 0 required). */
async function invokeMany(env: NodeJS.ProcessEnv): Promise<{ stdout: string; summary: Summary }> {
  const { stdout } = await execFileP(
    process.execPath,
    [script, '--invocations', '200', '--concurrency', '16', '--processes', '4'],
    { env: { ...process.env, ...env }, timeout: 180_000 },
  )
  const last = stdout.trim().split('\n').at(-1)!
  return { stdout, summary: (JSON.parse(last) as { summary: Summary }).summary }
}

function check({ stdout, summary }: { stdout: string; summary: Summary }) {
  console.log(stdout)
  expect(summary).toMatchObject({ ok: 200, failed: 0, counter: 200 })
  expect(stdout).toMatch(/PASS counter 200 == successful invocations 200/)
  expect(stdout).toMatch(/PASS every invocation saw a distinct value \(200\)/)
  expect(stdout).toMatch(/PASS a retried request id is answered from its first run/)
  expect(stdout).not.toMatch(/FAIL/)
  // The per-invocation request report is there.
  expect(stdout).toMatch(/per invocation: {5}GET mean/)
}

describe('lambda example: 200 invocations, 16 concurrent containers', () => {
  it.skipIf(s3Skip)('on MinIO: exact counter', { timeout: 200_000 }, async () => {
    const endpoint = s3Endpoint()!
    const bucket = await freshBucket(s3Client(endpoint), 'example-lambda')
    check(
      await invokeMany({
        S3DB_URL: `s3://${bucket}/counters/`,
        AWS_ENDPOINT_URL: endpoint.endpoint,
        AWS_ACCESS_KEY_ID: endpoint.accessKeyId,
        AWS_SECRET_ACCESS_KEY: endpoint.secretAccessKey,
        AWS_REGION: endpoint.region,
      }),
    )
  })

  it('on the filesystem store: exact counter', { timeout: 200_000 }, async () => {
    const { dir, cleanup } = await tempDir('example-lambda')
    cleanups.push(cleanup)
    check(await invokeMany({ S3DB_DATA_DIR: join(dir, 'store') }))
  })
})
