/**
 * What the operating system's refusals look like through s3db: a full disk, a
 * read-only mount, a user without permission and a store directory that vanished
 * all come out as typed errors, and nothing half-written is left behind.
 *
 * The disk-full and read-only cases mount a real 1 MiB tmpfs (root only; skipped
 * with the reason printed where mounting is not permitted). The permission case
 * runs a child process that drops from root to uid 65534, because root ignores
 * mode bits.
 */
import { execFile, execFileSync } from 'node:child_process'
import { chmod, mkdir, readdir, rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import {
  FileSystemBlobStore,
  isS3dbError,
  LocalStorageFullError,
  MemoryBlobStore,
  S3db,
  StoreUnavailableError,
} from '@s3db/core'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { codeOf, tempDir } from '../../packages/core/test/helpers.js'

const execFileP = promisify(execFile)
const nobodyScript = fileURLToPath(new URL('./fixtures/as-nobody.mjs', import.meta.url))
const text = (s: string) => new TextEncoder().encode(s)

/** Why a 1 MiB tmpfs cannot be mounted here, or undefined when it can. */
function mountSkipReason(): string | undefined {
  if (process.platform !== 'linux') return `tmpfs mounts need Linux, this is ${process.platform}`
  if (process.getuid?.() !== 0) return 'mounting a tmpfs needs root'
  return undefined
}
const skipMount = mountSkipReason()
if (skipMount) console.log(`skipping the disk-full and read-only tests: ${skipMount}`)

/** Every file below `dir`, relative. */
async function filesUnder(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true })
  return entries
    .filter((e) => e.isFile())
    .map((e) => join(e.parentPath, e.name).slice(dir.length + 1))
    .sort()
}

describe.skipIf(Boolean(skipMount))('on a 1 MiB tmpfs', () => {
  let dir: string
  let cleanup: () => Promise<void>
  let mnt: string
  let mounted = false
  beforeEach(async (ctx) => {
    ;({ dir, cleanup } = await tempDir('tmpfs'))
    mnt = join(dir, 'mnt')
    await mkdir(mnt)
    try {
      execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1m,mode=0700', 'tmpfs', mnt], {
        stdio: 'pipe',
      })
      mounted = true
    } catch (err) {
      // Root in a container without CAP_SYS_ADMIN: say so instead of failing.
      console.log(`skipping: mount -t tmpfs failed: ${(err as Error).message.split('\n')[0]}`)
      ctx.skip()
    }
  })
  afterEach(async () => {
    // Lazy unmount: a descriptor left open by a failing test must not leave the mount behind.
    if (mounted) execFileSync('umount', ['-l', mnt])
    mounted = false
    await cleanup()
  })

  it('a store write that does not fit fails with LocalStorageFull and leaves no temp file', async () => {
    const store = await FileSystemBlobStore.open(join(mnt, 'store'))
    await store.put('db/a', text('old'))
    const err = await store.put('db/a', new Uint8Array(2 << 20)).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(LocalStorageFullError)
    expect((err as Error).message).toContain('free space')
    // The old object is intact and no temp file is left.
    expect(await filesUnder(join(mnt, 'store'))).toEqual(['.s3db.lock', 'db/a'])
    const old = await store.get('db/a')
    expect(old.notModified || Buffer.from(old.body).toString()).toBe('old')
    // Small writes still work.
    await store.put('db/b', text('b'), { ifNoneMatch: true })
    await store.close()
  })

  it('an update whose changeset does not fit fails with LocalStorageFull and publishes nothing', async () => {
    const store = await FileSystemBlobStore.open(join(mnt, 'store'))
    const db = await S3db.open(store, 'app/db/', { localPath: join(dir, 'replica.sqlite') })
    await db.update((tx) => tx.exec('CREATE TABLE t (id INTEGER PRIMARY KEY, b BLOB)'))
    const err = await db
      .update((tx) => tx.run('INSERT INTO t VALUES (1, ?)', [Buffer.alloc(2 << 20, 7)]))
      .catch((e: unknown) => e)
    expect(isS3dbError(err, 'LocalStorageFull'), String(err)).toBe(true)
    expect(await db.view((tx) => tx.all('SELECT id FROM t'))).toEqual([])
    expect((await filesUnder(join(mnt, 'store'))).filter((f) => f.includes('.s3db-tmp-'))).toEqual(
      [],
    )
    await db.update((tx) => tx.run("INSERT INTO t VALUES (2, 'small')"))
    expect(await db.view((tx) => tx.all('SELECT id FROM t'))).toEqual([{ id: 2 }])
    await db.close()
    await store.close()
  })

  it('opening a local replica on a full disk fails with LocalStorageFull', async () => {
    const store = new MemoryBlobStore()
    const seed = await S3db.open(store, 'app/db/')
    await seed.update((tx) => tx.exec('CREATE TABLE t (id INTEGER PRIMARY KEY)'))
    await seed.close()
    await writeFile(join(mnt, 'filler'), new Uint8Array(1 << 20)).catch(() => {})
    const err = await S3db.open(store, 'app/db/', { localPath: join(mnt, 'replica.sqlite') }).catch(
      (e: unknown) => e,
    )
    expect(isS3dbError(err, 'LocalStorageFull'), String(err)).toBe(true)
    // Nothing holds the path: with space freed it opens.
    await rm(join(mnt, 'filler'))
    const db = await S3db.open(store, 'app/db/', { localPath: join(mnt, 'replica.sqlite') })
    await db.close()
  })

  it('a store and a replica on a file system remounted read-only give AccessDenied', async () => {
    const store = await FileSystemBlobStore.open(join(mnt, 'store'))
    await store.put('db/a', text('a'))
    execFileSync('mount', ['-o', 'remount,ro', mnt])
    const err = await store.put('db/b', text('b'), { ifNoneMatch: true }).catch((e: unknown) => e)
    expect(isS3dbError(err, 'AccessDenied'), String(err)).toBe(true)
    expect((err as Error).message).toContain('read-only')
    expect(await codeOf(store.delete('db/a'))).toBe('AccessDenied')
    // Reads still work.
    const a = await store.get('db/a')
    expect(a.notModified || Buffer.from(a.body).toString()).toBe('a')
    expect(
      await codeOf(
        S3db.open(new MemoryBlobStore(), 'app/db/', { localPath: join(mnt, 'replica.sqlite') }),
      ),
    ).toBe('AccessDenied')
    await store.close()
  })
})

describe('permissions and vanished directories', () => {
  it('a user without write permission gets AccessDenied from the store and the replica', {
    timeout: 60_000,
  }, async () => {
    if (process.platform === 'win32' || process.getuid?.() !== 0) {
      console.log('skipping: dropping to another uid needs root on a POSIX system')
      return
    }
    const { dir, cleanup } = await tempDir('perm')
    try {
      // Readable and searchable by uid 65534, writable only by root.
      await chmod(dir, 0o755)
      const root = join(dir, 'store')
      await FileSystemBlobStore.open(root).then((s) => s.close())
      await chmod(root, 0o755)
      const { stdout } = await execFileP(process.execPath, [
        nobodyScript,
        root,
        join(dir, 'replica.sqlite'),
      ])
      expect(JSON.parse(stdout)).toEqual({ put: 'AccessDenied', open: 'AccessDenied' })
    } finally {
      await cleanup()
    }
  })

  it('a store whose directory was deleted gives a non-retryable StoreUnavailable, not an empty store', async () => {
    const { dir, cleanup } = await tempDir('vanish')
    try {
      const store = await FileSystemBlobStore.open(join(dir, 'store'))
      await store.put('db/a', text('a'))
      await rm(join(dir, 'store'), { recursive: true })
      for (const op of [
        () => store.get('db/a'),
        () => store.put('db/b', text('b')),
        () => store.put('db/b', text('b'), { ifNoneMatch: true }),
        async () => {
          for await (const _ of store.list('db/')) break
        },
      ]) {
        const err = await op().catch((e: unknown) => e)
        expect(err).toBeInstanceOf(StoreUnavailableError)
        expect((err as StoreUnavailableError).retryable).toBe(false)
      }
      // Nothing was recreated behind the caller's back.
      expect(await readdir(dir)).toEqual([])
      await store.close()
    } finally {
      await cleanup()
    }
  })
})
