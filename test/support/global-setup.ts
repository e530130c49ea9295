import type { TestProject } from 'vitest/node'
import { provideS3, type S3Endpoint } from './minio.js'

declare module 'vitest' {
  export interface ProvidedContext {
    /** The S3 endpoint for tests, or why there is none. */
    s3: S3Endpoint | { unavailable: string }
  }
}

/** Starts MinIO (or finds an S3 endpoint) once for the whole run. */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const log = (msg: string) => process.stdout.write(`${msg}\n`)
  const started = Date.now()
  const s3 = await provideS3(log)
  if ('unavailable' in s3) {
    if (process.env.CI) {
      throw new Error(`CI must run the S3 tests, but ${s3.unavailable}`)
    }
    log(`s3: S3 tests will be SKIPPED: ${s3.unavailable}`)
    project.provide('s3', s3)
    return async () => {}
  }
  log(`s3: ${s3.source} ready in ${Date.now() - started} ms`)
  const { stop, ...endpoint } = s3
  project.provide('s3', endpoint)
  return stop
}
