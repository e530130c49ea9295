import { readFile, symlink, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { isS3dbError } from '../../src/errors.js'
import { S3db } from '../../src/s3db.js'
import { CountingBlobStore } from '../../src/store/counting-store.js'
import { storeIdentity } from '../../src/store/identity.js'
import { MemoryBlobStore } from '../../src/store/memory-store.js'
import { RetryingBlobStore } from '../../src/store/retrying-store.js'
import { codeOf, manifestOf, PREFIX, tempDir } from '../helpers.js'

let dir: string
let cleanup: () => Promise<void>
beforeEach(async () => {
  ;({ dir, cleanup } = await tempDir('transfer'))
})
afterEach(async () => {
  await cleanup()
})

function seedFile(path: string): void {
  const db = new Database(path)
  db.pragma('journal_mode = WAL')
  db.exec(
    "CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT); INSERT INTO notes VALUES (1, 'hello'), (2, 'world')",
  )
  // Left open on purpose below in one test: data still in the WAL must be included.
  db.close()
}

describe('init / pull / push', () => {
  it('refuses a symlink planted at the pull record, leaving its target alone', async () => {
    const store = new MemoryBlobStore()
    const db = await S3db.open(store, PREFIX)
    await db.update((tx) => tx.exec('CREATE TABLE t (id INTEGER PRIMARY KEY)'))
    await db.close()
    const victim = join(dir, 'victim.txt')
    await writeFile(victim, 'precious')
    const file = join(dir, 'pulled.sqlite')
    await symlink(victim, `${file}.s3db-seq`)
    expect(await codeOf(S3db.pull(store, PREFIX, file))).toBe('InvalidArgument')
    expect(await readFile(victim, 'utf8')).toBe('precious')
  })

  it('inits from a seed file, refuses to init twice, and opens with the seed data', async () => {
    const store = new MemoryBlobStore()
    const seed = join(dir, 'seed.sqlite')
    seedFile(seed)
    const res = await S3db.init(store, PREFIX, { from: seed })
    expect(res.seq).toBe(0)
    expect(await codeOf(S3db.init(store, PREFIX))).toBe('AlreadyExists')
    const db = await S3db.open(store, PREFIX)
    expect(await db.view((tx) => tx.all('SELECT * FROM notes ORDER BY id'))).toEqual([
      { id: 1, body: 'hello' },
      { id: 2, body: 'world' },
    ])
    await db.close()
  })

  it('includes rows still in the seed file WAL', async () => {
    const store = new MemoryBlobStore()
    const seed = join(dir, 'wal.sqlite')
    const live = new Database(seed)
    live.pragma('journal_mode = WAL')
    live.pragma('wal_autocheckpoint = 0')
    live.exec('CREATE TABLE t (id INTEGER PRIMARY KEY); INSERT INTO t VALUES (7)')
    await S3db.init(store, PREFIX, { from: seed })
    live.close()
    const db = await S3db.open(store, PREFIX)
    expect(await db.view((tx) => tx.all('SELECT * FROM t'))).toEqual([{ id: 7 }])
    await db.close()
  })

  it('refuses files that are not SQLite, writing nothing', async () => {
    const store = new MemoryBlobStore()
    const bogus = join(dir, 'bogus.sqlite')
    await writeFile(
      bogus,
      'definitely not a database, just text that is long enough to have a header '.repeat(3),
    )
    expect(await codeOf(S3db.init(store, PREFIX, { from: bogus }))).toBe('InvalidArgument')
    expect(await codeOf(S3db.init(store, PREFIX, { from: join(dir, 'missing.sqlite') }))).toBe(
      'InvalidArgument',
    )
    const keys: string[] = []
    for await (const e of store.list('')) keys.push(e.key)
    expect(keys).toEqual([])
    await S3db.init(store, PREFIX)
    expect(await codeOf(S3db.push(store, PREFIX, bogus, { force: true }))).toBe('InvalidArgument')
  })

  it('pulls to a plain file with its seq, pushes an edit back, and refuses a push after someone wrote', async () => {
    const store = new MemoryBlobStore()
    const db = await S3db.open(store, PREFIX, { autoCompact: false })
    await db.update((tx) => tx.exec('CREATE TABLE kv (k TEXT PRIMARY KEY, v TEXT)'))
    await db.update((tx) => tx.run("INSERT INTO kv VALUES ('a', '1')"))
    const file = join(dir, 'pulled.sqlite')
    const pulled = await S3db.pull(store, PREFIX, file)
    expect(pulled.seq).toBe(2)
    const m = await manifestOf(store)
    expect(JSON.parse(await readFile(`${file}.s3db-seq`, 'utf8'))).toEqual({
      prefix: PREFIX,
      seq: 2,
      store: storeIdentity(store),
      head: m.log.at(-1)!.key,
    })
    // A wrapper holds the same data, so it has the same identity.
    expect(storeIdentity(new RetryingBlobStore(new CountingBlobStore(store)))).toBe(
      storeIdentity(store),
    )
    expect(storeIdentity(new MemoryBlobStore())).not.toBe(storeIdentity(store))
    const edit = new Database(file)
    expect(edit.pragma('journal_mode', { simple: true })).toBe('delete')
    edit.exec("INSERT INTO kv VALUES ('b', '2')")
    edit.close()
    const pushed = await S3db.push(store, PREFIX, file, { expectedSeq: 2 })
    expect(pushed.seq).toBe(3)
    expect(await db.view((tx) => tx.all('SELECT * FROM kv ORDER BY k'))).toEqual([
      { k: 'a', v: '1' },
      { k: 'b', v: '2' },
    ])
    // Someone writes after our pull: push must refuse, then force overrides.
    await S3db.pull(store, PREFIX, file)
    await db.update((tx) => tx.run("INSERT INTO kv VALUES ('c', '3')"))
    const err = await S3db.push(store, PREFIX, file, { expectedSeq: 3 }).catch((e: unknown) => e)
    expect(isS3dbError(err, 'SeqMismatch')).toBe(true)
    expect((err as Error).message).toMatch(/pull again/)
    expect(await db.view((tx) => tx.get('SELECT count(*) AS n FROM kv'))).toEqual({ n: 3 })
    await S3db.push(store, PREFIX, file, { force: true })
    expect(await db.view((tx) => tx.get('SELECT count(*) AS n FROM kv'))).toEqual({ n: 2 })
    await db.close()
  })

  it('requires expectedSeq or force to push', async () => {
    const store = new MemoryBlobStore()
    await S3db.init(store, PREFIX)
    const file = join(dir, 'x.sqlite')
    await S3db.pull(store, PREFIX, file)
    expect(await codeOf(S3db.push(store, PREFIX, file, {} as never))).toBe('InvalidArgument')
  })
})

describe('opening and collecting without creating', () => {
  it('refuses to create with createIfMissing: false, and gc works without opening', async () => {
    const store = new MemoryBlobStore()
    const err = await S3db.open(store, PREFIX, { createIfMissing: false }).catch((e: unknown) => e)
    expect(isS3dbError(err, 'NotFound')).toBe(true)
    expect((err as Error).message).toMatch(/no database at app\/db\//)
    const keys: string[] = []
    for await (const e of store.list('')) keys.push(e.key)
    expect(keys).toEqual([])
    const db = await S3db.open(store, PREFIX, { autoCompact: false })
    await db.update((tx) => tx.exec('CREATE TABLE t (id INTEGER PRIMARY KEY)'))
    await db.update((tx) => tx.run('INSERT INTO t VALUES (1)'))
    await db.compact()
    const dry = await S3db.gc(store, PREFIX, { gracePeriod: 0, minAge: 0, dryRun: true })
    expect(dry.deleted.length).toBeGreaterThan(0)
    const done = await S3db.gc(store, PREFIX, { gracePeriod: 0, minAge: 0 })
    expect(done.deleted.sort()).toEqual(dry.deleted.sort())
    const fresh = await S3db.open(store, PREFIX)
    expect(await fresh.view((tx) => tx.all('SELECT * FROM t'))).toEqual([{ id: 1 }])
    await fresh.close()
    await db.close()
  })
})
