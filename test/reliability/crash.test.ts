/**
 * kill -9 at chosen protocol moments, on the filesystem store and on MinIO:
 * restarted writers reuse or rebuild their local caches, nothing acknowledged is
 * lost, nothing is applied twice, and gc cleans the leftovers.
 */
import { spawn } from 'node:child_process'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { type BlobStore, FileSystemBlobStore, S3db } from '@s3db/core'
import { describe, expect, it } from 'vitest'
import { expectReplayMatches, tempDir } from '../../packages/core/test/helpers.js'
import { s3SkipReason, withS3Bucket } from '../support/s3.js'

const script = fileURLToPath(new URL('./fixtures/crash-writer.mjs', import.meta.url))
const MOMENTS = [
  'after-changeset-put',
  'after-manifest-put',
  'mid-download',
  'after-snapshot-put',
  'during-gc',
  'random',
] as const
const PREFIX = 'crash/db/'

interface Run {
  acked: string[]
  killed: boolean
}

function runWriter(args: string[], env: NodeJS.ProcessEnv, killAfterMs?: number): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [script, ...args], {
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let out = ''
    let err = ''
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString()
    })
    child.stderr.on('data', (d: Buffer) => {
      err += d.toString()
    })
    const timer =
      killAfterMs === undefined ? undefined : setTimeout(() => child.kill('SIGKILL'), killAfterMs)
    child.on('exit', (code, signal) => {
      if (timer) clearTimeout(timer)
      const acked = out.split('\n').flatMap((l) => (l.startsWith('ACK ') ? [l.slice(4)] : []))
      if (signal === 'SIGKILL') resolve({ acked, killed: true })
      else if (code === 0) resolve({ acked, killed: false })
      else reject(new Error(`writer exited with ${code}: ${err.slice(-2000)}`))
    })
  })
}

async function crashRounds(
  store: BlobStore,
  spec: string,
  env: NodeJS.ProcessEnv,
  dir: string,
): Promise<void> {
  const setup = await S3db.open(store, PREFIX)
  await setup.update((tx) =>
    tx.exec(
      'CREATE TABLE counter (id INTEGER PRIMARY KEY, n INTEGER NOT NULL); INSERT INTO counter VALUES (1, 0); CREATE TABLE applied (id TEXT PRIMARY KEY)',
    ),
  )
  const acked = new Set<string>()
  let kills = 0
  let round = 0
  // Each round: 2 writers per moment run concurrently, each possibly killed; then
  // the same writers restart on the same localPath.
  for (const moment of MOMENTS) {
    for (let restart = 0; restart < 2; restart++) {
      round++
      const runs = await Promise.all(
        [0, 1].map((w) =>
          runWriter(
            [
              spec,
              PREFIX,
              join(dir, `replica-${moment}-${w}.sqlite`),
              `${moment}-${w}-${restart}`,
              '12',
              moment,
              '0.3',
            ],
            env,
            moment === 'random' ? 200 + Math.random() * 1500 : undefined,
          ),
        ),
      )
      for (const r of runs) {
        for (const id of r.acked) acked.add(id)
        if (r.killed) kills++
      }
    }
  }
  await setup.view(() => 0)
  const final = await setup.view((tx) => ({
    n: tx.get<{ n: number }>('SELECT n FROM counter')!.n,
    applied: new Set(tx.all<{ id: string }>('SELECT id FROM applied').map((r) => r.id)),
  }))
  expect(final.n).toBe(final.applied.size)
  for (const id of acked) expect(final.applied.has(id), `acknowledged ${id} lost`).toBe(true)
  expect(kills).toBeGreaterThan(3)
  await expectReplayMatches(store, PREFIX, [setup])
  // Leftovers of killed writers (orphan changesets/snapshots) go with gc.
  await setup.compact()
  // No writer runs any more: young orphans may go too.
  await setup.gc({ gracePeriod: 0, minAge: 0 })
  const m = setup.stats()
  const keys: string[] = []
  for await (const e of store.list(PREFIX)) keys.push(e.key)
  // Besides them, only the fold record(s) of the current snapshot's compaction
  // (history/folds/<snapshot>/): gc removed those of earlier snapshots.
  const folds = `${PREFIX}history/folds/${m.snapshot.key.split('/').at(-1)!.replace('.sqlite', '')}/`
  expect(keys.filter((k) => k.startsWith(folds)).length).toBeGreaterThanOrEqual(1)
  expect(keys.filter((k) => !k.startsWith(folds)).sort()).toEqual(
    [`${PREFIX}manifest.json`, m.snapshot.key].sort(),
  )
  console.log(
    `${spec.split(':')[0]}: ${round} rounds, ${kills} kill -9s, ${acked.size} acknowledged, ${final.n} applied`,
  )
  await setup.close()
}

describe('crash tests (kill -9)', () => {
  it('filesystem store', { timeout: 300_000 }, async () => {
    const { dir, cleanup } = await tempDir('crash-fs')
    try {
      const root = join(dir, 'store')
      const store = await FileSystemBlobStore.open(root)
      await crashRounds(store, `fs:${root}`, {}, dir)
      await store.close()
    } finally {
      await cleanup()
    }
  })

  it.skipIf(Boolean(s3SkipReason()))('MinIO', { timeout: 300_000 }, async () => {
    await withS3Bucket('crash', ({ store, spec, env, dir }) => crashRounds(store, spec, env, dir))
  })
})
