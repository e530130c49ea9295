import { execFileSync } from 'node:child_process'
import { existsSync, readdirSync } from 'node:fs'
import { mkdir, readdir, readFile, rm, symlink, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { isS3dbError } from '../../src/errors.js'
import type { S3dbEvent } from '../../src/events.js'
import { S3db } from '../../src/s3db.js'
import { CountingBlobStore, diffCounts } from '../../src/store/counting-store.js'
import { MemoryBlobStore } from '../../src/store/memory-store.js'
import { codeOf, PREFIX, tempDir } from '../helpers.js'

let dir: string
let cleanup: () => Promise<void>
beforeEach(async () => {
  ;({ dir, cleanup } = await tempDir('cache'))
})
afterEach(async () => {
  await cleanup()
})

describe('local replica cache', () => {
  it('reuses a replica across restarts, fetching only what is missing', async () => {
    const store = new CountingBlobStore(new MemoryBlobStore())
    const localPath = join(dir, 'replica.sqlite')
    const writer = await S3db.open(store, PREFIX, { autoCompact: false })
    await writer.update((tx) => tx.exec('CREATE TABLE t (id INTEGER PRIMARY KEY, b BLOB)'))
    await writer.update((tx) => tx.run('INSERT INTO t VALUES (1, NULL)'))
    const a = await S3db.open(store, PREFIX, { localPath })
    await a.close()
    // One changeset too large to come inline with the manifest (over 4 KiB), one small.
    await writer.update((tx) => tx.run('INSERT INTO t VALUES (2, zeroblob(5000))'))
    await writer.update((tx) => tx.run('INSERT INTO t VALUES (3, NULL)'))
    const before = store.snapshot()
    const events: S3dbEvent[] = []
    const b = await S3db.open(store, PREFIX, { localPath, onEvent: (e) => events.push(e) })
    const cost = diffCounts(store.snapshot(), before)
    // Manifest + the large new changeset (the small one comes inline with the
    // manifest); no snapshot download.
    expect(cost.get).toBe(2)
    expect(events.find((e) => e.type === 'sync')).toMatchObject({ snapshot: false, changesets: 2 })
    expect(await b.view((tx) => tx.all('SELECT id FROM t ORDER BY id'))).toEqual([
      { id: 1 },
      { id: 2 },
      { id: 3 },
    ])
    await b.close()
    await writer.close()
  })

  it('gives a second opener of the same localPath LocalCacheLocked at once', async () => {
    const store = new MemoryBlobStore()
    const localPath = join(dir, 'replica.sqlite')
    const a = await S3db.open(store, PREFIX, { localPath })
    const err = await S3db.open(store, PREFIX, { localPath }).catch((e: unknown) => e)
    expect(isS3dbError(err, 'LocalCacheLocked')).toBe(true)
    await a.close()
    const b = await S3db.open(store, PREFIX, { localPath })
    await b.close()
  })

  it('releases the local cache when the store side of open fails', async () => {
    // The replica opens while the manifest is fetched; a failed fetch must not keep it locked.
    const localPath = join(dir, 'replica.sqlite')
    const err = await S3db.open(new MemoryBlobStore(), PREFIX, {
      localPath,
      createIfMissing: false,
    }).catch((e: unknown) => e)
    expect(isS3dbError(err, 'NotFound')).toBe(true)
    const db = await S3db.open(new MemoryBlobStore(), PREFIX, { localPath })
    await db.close()
  })

  it('rebuilds a replica whose position record was left pending or damaged by a crash', async () => {
    const store = new MemoryBlobStore()
    const localPath = join(dir, 'replica.sqlite')
    const a = await S3db.open(store, PREFIX, { localPath, autoCompact: false })
    await a.update((tx) => tx.exec('CREATE TABLE t (id INTEGER PRIMARY KEY)'))
    await a.update((tx) => tx.run('INSERT INTO t VALUES (1)'))
    await a.close()
    for (const damage of ['{"v":1,"pending":true,"position":null}\nbad\n', 'garbage']) {
      await writeFile(`${localPath}.s3db-position`, damage)
      const events: S3dbEvent[] = []
      const b = await S3db.open(store, PREFIX, { localPath, onEvent: (e) => events.push(e) })
      expect(events.find((e) => e.type === 'sync')).toMatchObject({ snapshot: true })
      expect(await b.view((tx) => tx.all('SELECT id FROM t'))).toEqual([{ id: 1 }])
      await b.close()
    }
  })

  it('never reuses a replica of another database', async () => {
    const store = new MemoryBlobStore()
    const localPath = join(dir, 'replica.sqlite')
    const a = await S3db.open(store, 'one/', { localPath })
    await a.update((tx) => tx.exec('CREATE TABLE only_in_one (id INTEGER PRIMARY KEY)'))
    await a.close()
    const b = await S3db.open(store, 'two/', { localPath })
    expect(
      await b.view((tx) => tx.all("SELECT name FROM sqlite_schema WHERE type = 'table'")),
    ).toEqual([])
    await b.close()
  })

  // Regression (found by the Next.js example): a localPath in a folder that did not
  // exist failed with a raw ENOENT.
  it('creates the folder of a localPath that does not exist yet', async () => {
    const localPath = join(dir, 'not', 'yet', 'replica.sqlite')
    const db = await S3db.open(new MemoryBlobStore(), PREFIX, { localPath })
    await db.update((tx) => tx.exec('CREATE TABLE t (id INTEGER PRIMARY KEY)'))
    await db.close()
  })

  it('refuses a symlink planted at any file of the replica, creating and changing nothing outside', async () => {
    const store = new MemoryBlobStore()
    const outside = join(dir, 'outside')
    await mkdir(outside)
    const localPath = join(dir, 'replica.sqlite')
    // A replica that was used and closed, so every kind of reuse is possible.
    const setup = await S3db.open(store, PREFIX, { localPath })
    await setup.update((tx) => tx.exec('CREATE TABLE t (id INTEGER PRIMARY KEY)'))
    await setup.close()
    const suffixes = ['.lock', '.s3db-position', '', '-wal', '-shm', '-journal']
    for (const suffix of suffixes) {
      for (const target of ['victim', 'absent']) {
        const what = `${suffix || '(replica file)'} -> ${target}`
        await writeFile(join(outside, 'victim'), 'precious')
        const planted = localPath + suffix
        const saved = existsSync(planted) ? await readFile(planted) : undefined
        await rm(planted, { force: true })
        await symlink(join(outside, target), planted)
        expect(await codeOf(S3db.open(store, PREFIX, { localPath })), what).toBe('InvalidArgument')
        expect((await readdir(outside)).sort(), what).toEqual(['victim'])
        expect(await readFile(join(outside, 'victim'), 'utf8'), what).toBe('precious')
        await rm(planted)
        if (saved) await writeFile(planted, saved)
      }
    }
    // With the links gone the replica opens (and is still reused).
    const db = await S3db.open(store, PREFIX, { localPath })
    expect(await db.view((tx) => tx.all('SELECT * FROM t'))).toEqual([])
    await db.close()
  })

  it('refuses a FIFO planted at the position sidecar instead of hanging on it', async () => {
    const localPath = join(dir, 'replica.sqlite')
    execFileSync('mkfifo', [`${localPath}.s3db-position`])
    expect(await codeOf(S3db.open(new MemoryBlobStore(), PREFIX, { localPath }))).toBe(
      'InvalidArgument',
    )
  })

  // The cost stated in the README: 7 descriptors per open database on a warm
  // replica (its .lock and position sidecar, and SQLite's: the replica file and
  // the WAL for the writer and for the reader, and the shared -shm), and none left
  // after close.
  it('holds 7 file descriptors per open database and releases all of them on close', async () => {
    if (process.platform !== 'linux') {
      console.log(
        `skipping the descriptor count: /proc/self/fd is Linux only (${process.platform})`,
      )
      return
    }
    const fds = () => readdirSync('/proc/self/fd').length
    const store = new MemoryBlobStore()
    const seed = await S3db.open(store, PREFIX)
    await seed.update((tx) => tx.exec('CREATE TABLE t (id INTEGER PRIMARY KEY)'))
    await seed.close()
    const base = fds()
    const n = 20
    const dbs: S3db[] = []
    for (let i = 0; i < n; i++) {
      const db = await S3db.open(store, PREFIX, { localPath: join(dir, `r${i}.sqlite`) })
      await db.update((tx) => tx.run('INSERT INTO t VALUES (NULL)'))
      await db.view((tx) => tx.all('SELECT * FROM t'))
      dbs.push(db)
    }
    const perDatabase = (fds() - base) / n
    console.log(`file descriptors per open database: ${perDatabase}`)
    expect(perDatabase).toBeLessThanOrEqual(7)
    for (const db of dbs) await db.close()
    expect(fds()).toBe(base)
  })
})
