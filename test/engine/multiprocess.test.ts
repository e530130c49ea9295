/**
 * Several OS processes incrementing one row through the filesystem store and
 * through MinIO: the final value equals the number of acknowledged updates.
 */
import { execFile } from 'node:child_process'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { type BlobStore, FileSystemBlobStore, S3db } from '@s3db/core'
import { describe, expect, it } from 'vitest'
import { tempDir } from '../../packages/core/test/helpers.js'
import { s3SkipReason, withS3Bucket } from '../support/s3.js'

const execFileP = promisify(execFile)
const script = fileURLToPath(new URL('./fixtures/increment.mjs', import.meta.url))
const PROCS = 4
const EACH = 50

async function hammer(
  store: BlobStore,
  spec: string,
  env: NodeJS.ProcessEnv,
  dir: string,
): Promise<void> {
  const prefix = 'mp/db/'
  const setup = await S3db.open(store, prefix)
  await setup.update((tx) =>
    tx.exec('CREATE TABLE counter (id INTEGER PRIMARY KEY, n INTEGER NOT NULL)'),
  )
  await setup.update((tx) => tx.run('INSERT INTO counter VALUES (1, 0)'))
  const started = Date.now()
  const outs = await Promise.all(
    Array.from({ length: PROCS }, (_, i) =>
      execFileP(
        process.execPath,
        [script, spec, prefix, String(EACH), join(dir, `replica-${i}.sqlite`)],
        {
          env: { ...process.env, ...env },
          timeout: 240_000,
        },
      ),
    ),
  )
  const results = outs.map((o) => JSON.parse(o.stdout) as { acked: number; runs: number })
  const acked = results.reduce((n, r) => n + r.acked, 0)
  const runs = results.reduce((n, r) => n + r.runs, 0)
  expect(acked).toBe(PROCS * EACH)
  expect(await setup.view((tx) => tx.get('SELECT n FROM counter WHERE id = 1'))).toEqual({
    n: PROCS * EACH,
  })
  console.log(
    `${spec.split(':')[0]}: ${PROCS} processes x ${EACH} increments in ${Date.now() - started} ms, ${runs - acked} re-runs`,
  )
  await setup.close()
}

describe('multi-process increments', () => {
  it(`filesystem store: ${PROCS} processes x ${EACH} increments are exact`, {
    timeout: 300_000,
  }, async () => {
    const { dir, cleanup } = await tempDir('mp-fs')
    try {
      const root = join(dir, 'store')
      const store = await FileSystemBlobStore.open(root)
      await hammer(store, `fs:${root}`, {}, dir)
      await store.close()
    } finally {
      await cleanup()
    }
  })

  it.skipIf(Boolean(s3SkipReason()))(
    `MinIO: ${PROCS} processes x ${EACH} increments are exact`,
    { timeout: 300_000 },
    async () => {
      await withS3Bucket('mp', ({ store, spec, env, dir }) => hammer(store, spec, env, dir))
    },
  )
})
