/**
 * The filesystem store's and the local replica's locks under attack from outside,
 * with real OS processes: lock files deleted while their holders run.
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { mkdir, readdir, symlink, unlink, utimes, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { FileSystemBlobStore, isS3dbError, S3db } from '@s3db/core'
import { describe, expect, it } from 'vitest'
import { tempDir } from '../../packages/core/test/helpers.js'

const execFileP = promisify(execFile)
const counterScript = fileURLToPath(new URL('./fixtures/counter-cas.mjs', import.meta.url))
const holdScript = fileURLToPath(new URL('./fixtures/hold-replica.mjs', import.meta.url))
const text = (s: string) => new TextEncoder().encode(s)

describe('filesystem store lock', () => {
  it('loses no acknowledged write while <root>/.s3db.lock is deleted over and over (4 OS processes)', {
    timeout: 300_000,
  }, async () => {
    const { dir, cleanup } = await tempDir('lockdel')
    const root = join(dir, 'store')
    const store = await FileSystemBlobStore.open(root)
    try {
      await store.put('db/counter', text('0'))
      const procs = 4
      const each = 250
      // Each process also reopens the store (a new lock descriptor) every 20 writes,
      // as short-lived processes (Lambdas, CLI runs) joining a running system do.
      const reopenEvery = 20
      let running = true
      let deletions = 0
      // Deletes the lock file as fast as the event loop allows until the writers exit.
      const deleter = (async () => {
        while (running) {
          if (
            await unlink(join(root, '.s3db.lock')).then(
              () => true,
              () => false,
            )
          )
            deletions++
          await new Promise((r) => setImmediate(r))
        }
      })()
      const outs = await Promise.all(
        Array.from({ length: procs }, () =>
          execFileP(
            process.execPath,
            [counterScript, root, 'db/counter', String(each), String(reopenEvery)],
            {
              timeout: 240_000,
            },
          ),
        ),
      ).finally(() => {
        running = false
      })
      await deleter
      const acked = outs.reduce((n, o) => n + (JSON.parse(o.stdout) as { acked: number }).acked, 0)
      const final = await store.get('db/counter')
      if (final.notModified) throw new Error('notModified')
      console.log(
        `lock deleted ${deletions} times while ${procs} processes made ${acked} acknowledged increments`,
      )
      expect(acked).toBe(procs * each)
      expect(deletions).toBeGreaterThan(10)
      // Exact: every acknowledged compare-and-swap is in the final value.
      expect(Number(Buffer.from(final.body).toString())).toBe(acked)
    } finally {
      await store.close()
      await cleanup()
    }
  })
})

/** A child holding a replica open; `stop()` closes it cleanly, `kill()` is kill -9. */
interface Holder {
  child: ChildProcess
  stop(): Promise<void>
  kill(): Promise<void>
}

async function holdReplica(
  root: string,
  localPath: string | undefined,
  env: NodeJS.ProcessEnv = {},
): Promise<Holder> {
  const child = spawn(process.execPath, [holdScript, root, 'hold/db/', localPath ?? ''], {
    env: { ...process.env, ...env },
    stdio: ['pipe', 'pipe', 'pipe'],
  })
  const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()))
  let err = ''
  child.stderr?.on('data', (d: Buffer) => {
    err += d.toString()
  })
  await new Promise<void>((resolve, reject) => {
    let out = ''
    child.stdout?.on('data', (d: Buffer) => {
      out += d.toString()
      if (out.includes('READY')) resolve()
    })
    child.on('exit', (code) => reject(new Error(`holder exited with ${code}: ${err}`)))
  })
  return {
    child,
    stop: async () => {
      child.stdin?.end()
      await exited
    },
    kill: async () => {
      child.kill('SIGKILL')
      await exited
    },
  }
}

describe('local replica lock', () => {
  it('a second process still gets LocalCacheLocked after a replica lock file is deleted', {
    timeout: 120_000,
  }, async () => {
    const { dir, cleanup } = await tempDir('replock')
    const root = join(dir, 'store')
    const store = await FileSystemBlobStore.open(root)
    try {
      // Either file alone may go, and .lock again and again (each failed opener
      // leaves a fresh .lock behind): the other one still stops the second opener.
      for (const [victim, times] of [
        ['.lock', 3],
        ['.s3db-position', 1],
      ] as const) {
        const localPath = join(dir, `replica${victim}.sqlite`)
        const holder = await holdReplica(root, localPath)
        try {
          for (let i = 0; i < times; i++) {
            await unlink(localPath + victim)
            const err = await S3db.open(store, 'hold/db/', { localPath }).catch((e: unknown) => e)
            expect(isS3dbError(err, 'LocalCacheLocked'), `after deleting ${victim}: ${err}`).toBe(
              true,
            )
          }
        } finally {
          await holder.stop()
        }
        // Once the holder closed, the path opens normally again.
        const db = await S3db.open(store, 'hold/db/', { localPath })
        await db.close()
      }
    } finally {
      await store.close()
      await cleanup()
    }
  })
})

describe('temp replica directories', () => {
  it('are removed at the next open once their process was killed with SIGKILL, never while in use', {
    timeout: 120_000,
  }, async () => {
    const { dir, cleanup } = await tempDir('sweep')
    const root = join(dir, 'store')
    // The children's os.tmpdir(): only this test's directories are in it.
    const tmp = join(dir, 'tmp')
    const outside = join(dir, 'outside')
    await mkdir(tmp)
    await mkdir(outside)
    await writeFile(join(outside, 'keep'), 'x')
    const env = { TMPDIR: tmp }
    const replicaDirs = async () =>
      new Set((await readdir(tmp)).filter((n) => n.startsWith('s3db-replica-')))
    const newDir = async (before: Set<string>) => {
      const added = [...(await replicaDirs())].filter((n) => !before.has(n))
      expect(added).toHaveLength(1)
      return added[0]!
    }
    try {
      let before = await replicaDirs()
      const killed = await holdReplica(root, undefined, env)
      const dead = await newDir(before)
      await killed.kill()
      before = await replicaDirs()
      const live = await holdReplica(root, undefined, env)
      const inUse = await newDir(before)
      before = await replicaDirs()
      const killedLate = await holdReplica(root, undefined, env)
      const freshDead = await newDir(before)
      await killedLate.kill()
      // Left by a process killed between mkdtemp and locking: empty.
      await mkdir(join(tmp, 's3db-replica-empty0'))
      // Not ours to judge: holds files but no replica locks.
      await mkdir(join(tmp, 's3db-replica-other0'))
      await writeFile(join(tmp, 's3db-replica-other0', 'data'), 'x')
      // A symlink with the prefix must never be followed into its target.
      await symlink(outside, join(tmp, 's3db-replica-link00'))
      const old = new Date(Date.now() - 5 * 60_000)
      for (const name of [dead, inUse, 's3db-replica-empty0', 's3db-replica-other0']) {
        await utimes(join(tmp, name), old, old)
      }
      expect(existsSync(join(tmp, dead, 'replica.sqlite'))).toBe(true)

      // The next process that opens a temp replica sweeps; its own is removed on close.
      await (await holdReplica(root, undefined, env)).stop()

      const left = await replicaDirs()
      expect(left.has(dead), 'killed, idle for 5 minutes: removed').toBe(false)
      expect(left.has('s3db-replica-empty0'), 'empty, idle: removed').toBe(false)
      expect(left.has(inUse), 'in use by a live process: kept').toBe(true)
      expect(left.has(freshDead), 'killed but changed within the last minute: kept').toBe(true)
      expect(left.has('s3db-replica-other0'), 'files but no replica locks: kept').toBe(true)
      expect(left.has('s3db-replica-link00'), 'a symlink: kept').toBe(true)
      expect(await readdir(outside)).toEqual(['keep'])
      expect(left.size).toBe(4)
      // The live one still works after the sweep.
      await live.stop()
      expect((await replicaDirs()).has(inUse)).toBe(false)
    } finally {
      await cleanup()
    }
  })
})
