/**
 * Exact outcomes of a write: never reported failed when it may have landed,
 * never acknowledged on state that was not committed, never decided on
 * uncommitted state, aborts honoured only before publishing, and a lifecycle
 * that cannot hang or tear a replica away from work in flight.
 */
import { execFileSync } from 'node:child_process'
import { statfsSync } from 'node:fs'
import { mkdir, rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { isS3dbError } from '../../src/errors.js'
import type { S3dbEvent } from '../../src/events.js'
import { S3db } from '../../src/s3db.js'
import type { BlobStore } from '../../src/store/blob-store.js'
import { FileSystemBlobStore } from '../../src/store/filesystem-store.js'
import { MemoryBlobStore } from '../../src/store/memory-store.js'
import type { Tx } from '../../src/tx.js'
import {
  codeOf,
  manifestOf,
  PREFIX,
  ScriptedStore,
  tempDir,
  useDatabases,
  wrapStore,
} from '../helpers.js'

const openDb = useDatabases({ autoCompact: false })

const counter = (tx: Tx) => tx.get<{ n: number }>('SELECT n FROM counter WHERE id = 1')!.n
const increment = (tx: Tx) => tx.run('UPDATE counter SET n = n + 1 WHERE id = 1')

async function setupCounter(db: S3db): Promise<void> {
  await db.update((tx) =>
    tx.exec('CREATE TABLE counter (id INTEGER PRIMARY KEY, n INTEGER NOT NULL)'),
  )
  await db.update((tx) => tx.run('INSERT INTO counter VALUES (1, 0)'))
}

/** Errors a store (or the user's own BlobStore) may throw after the request was applied. */
const unclassified: Record<string, () => unknown> = {
  'plain Error': () => new Error('something broke'),
  TypeError: () => new TypeError('fetch failed'),
  ECONNRESET: () => Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' }),
  AbortError: () => new DOMException('This operation was aborted', 'AbortError'),
  TimeoutError: () => new DOMException('The operation timed out', 'TimeoutError'),
  'a thrown string': () => 'boom',
}

/** Wraps a store: once armed, the next manifest CAS is applied, then `error` is thrown. */
function applyThenThrow(store: BlobStore, error: () => unknown): BlobStore & { armed: boolean } {
  const state = { armed: false }
  const wrapped = wrapStore(store, {
    put: async (key, body, options) => {
      const result = await store.put(key, body, options)
      if (state.armed && key.endsWith('manifest.json') && options?.ifMatch) {
        state.armed = false
        throw error()
      }
      return result
    },
  })
  return Object.defineProperty(wrapped, 'armed', {
    get: () => state.armed,
    set: (v: boolean) => {
      state.armed = v
    },
  }) as BlobStore & { armed: boolean }
}

/** Starts an update that holds the writer until released; later updates queue (and batch) behind it. */
async function block(
  db: S3db,
  then?: (tx: Tx) => unknown,
): Promise<{ blocker: Promise<unknown>; release: () => void }> {
  let release!: () => void
  let started!: () => void
  const running = new Promise<void>((r) => {
    started = r
  })
  const blocker = db.update(async (tx) => {
    await new Promise<void>((r) => {
      release = r
      started()
    })
    then?.(tx)
  })
  await running
  return { blocker, release }
}

describe('a store error after the manifest CAS applied', () => {
  for (const kind of ['memory', 'filesystem'] as const) {
    for (const [name, error] of Object.entries(unclassified)) {
      it(`${kind} store, ${name}: the write resolves, applied exactly once`, async () => {
        const { dir, cleanup } = await tempDir('unclassified')
        try {
          const base =
            kind === 'memory' ? new MemoryBlobStore() : await FileSystemBlobStore.open(dir)
          const store = applyThenThrow(base, error)
          const db = await openDb(store)
          await setupCounter(db)
          store.armed = true
          let runs = 0
          await db.update((tx) => {
            runs++
            increment(tx)
          })
          expect(runs).toBe(1)
          const other = await openDb(base)
          expect(await other.view(counter)).toBe(1)
        } finally {
          await cleanup()
        }
      })
    }
  }

  it('a refusal that proves nothing was applied (access denied) is reported as such', async () => {
    const base = new MemoryBlobStore()
    const db = await openDb(base)
    await setupCounter(db)
    const { AccessDeniedError } = await import('../../src/errors.js')
    const refusing = await openDb(
      wrapStore(base, {
        put: (key, body, options) =>
          key.endsWith('manifest.json')
            ? Promise.reject(new AccessDeniedError('denied'))
            : base.put(key, body, options),
      }),
    )
    const keys = async () => {
      const out: string[] = []
      for await (const e of base.list(PREFIX)) out.push(e.key)
      return out
    }
    const before = await keys()
    expect(await codeOf(refusing.update(increment))).toBe('AccessDenied')
    expect(await db.view(counter)).toBe(0)
    // Its changeset upload, which no manifest can reference, was removed again.
    expect(await keys()).toEqual(before)
  })
})

describe('AbortSignal', () => {
  it('an abort while the CAS is in flight never reports Aborted for a write that landed', async () => {
    const store = new ScriptedStore()
    const db = await openDb(store)
    await setupCounter(db)
    const controller = new AbortController()
    store.beforeManifestPut.push(async () => {
      controller.abort()
      await new Promise((r) => setTimeout(r, 10))
    })
    let runs = 0
    await db.update(
      (tx) => {
        runs++
        increment(tx)
      },
      { signal: controller.signal },
    )
    expect(runs).toBe(1)
    expect(await (await openDb(store)).view(counter)).toBe(1)
  })

  it('an update aborted while it waits in the queue never runs and publishes nothing', async () => {
    const store = new MemoryBlobStore()
    const db = await openDb(store)
    await setupCounter(db)
    const { blocker, release } = await block(db, increment)
    const controller = new AbortController()
    let ran = false
    const queued = db.update(
      (tx) => {
        ran = true
        tx.run('UPDATE counter SET n = n + 100 WHERE id = 1')
      },
      { signal: controller.signal },
    )
    await new Promise((r) => setTimeout(r, 10))
    controller.abort()
    expect(await codeOf(queued)).toBe('Aborted')
    release()
    await blocker
    expect(ran).toBe(false)
    expect(await db.view(counter)).toBe(1)
  })

  it('a member of a group commit aborted before publishing is rejected; the others commit without it', async () => {
    const store = new MemoryBlobStore()
    const db = await openDb(store)
    await setupCounter(db)
    const { blocker, release } = await block(db)
    const controller = new AbortController()
    const a = codeOf(db.update((tx) => tx.run('UPDATE counter SET n = n + 1 WHERE id = 1')))
    const b = codeOf(
      db.update(
        (tx) => {
          tx.run('UPDATE counter SET n = n + 100 WHERE id = 1')
          controller.abort() // after it ran, before its batch publishes
        },
        { signal: controller.signal },
      ),
    )
    const c = codeOf(db.update((tx) => tx.run('UPDATE counter SET n = n + 10 WHERE id = 1')))
    release()
    await blocker
    expect(await a).toBe('ok')
    expect(await b).toBe('Aborted')
    expect(await c).toBe('ok')
    expect(await (await openDb(store)).view(counter)).toBe(11)
  })
})

describe('errors are decided on committed state', () => {
  it('a group-commit member that failed on top of an earlier member is re-run when the batch loses its race', async () => {
    const store = new ScriptedStore()
    const a = await openDb(store)
    const c = await openDb(store)
    await a.update((tx) =>
      tx.exec(
        'CREATE TABLE seats (id INTEGER PRIMARY KEY); CREATE TABLE flags (id INTEGER PRIMARY KEY, open INTEGER NOT NULL); INSERT INTO flags VALUES (1, 1)',
      ),
    )
    await c.view(() => 0)
    const { blocker, release } = await block(a)
    let armed = false
    // Member 1 takes seat 1 while the flag is open.
    const first = a.update((tx) => {
      if (tx.get<{ open: number }>('SELECT open FROM flags WHERE id = 1')!.open)
        tx.run('INSERT INTO seats VALUES (1)')
    })
    // Member 2 refuses when seat 1 is taken (it sees member 1's uncommitted insert).
    const second = a.update((tx) => {
      if (!armed) {
        armed = true
        // Before the batch's CAS, another process closes the flag: on the re-run
        // member 1 writes nothing, so seat 1 was never taken.
        store.beforeManifestPut.push(async () => {
          await c.update((t) => t.run('UPDATE flags SET open = 0'))
        })
      }
      if (tx.get('SELECT id FROM seats WHERE id = 1')) throw new Error('seat 1 is taken')
      tx.run('INSERT INTO seats VALUES (2)')
    })
    const outcomes = Promise.all([codeOf(first), codeOf(second)])
    release()
    await blocker
    expect(await outcomes).toEqual(['ok', 'ok'])
    expect(await a.view((tx) => tx.all('SELECT id FROM seats ORDER BY id'))).toEqual([{ id: 2 }])
  })

  it('a deferred foreign key violation rejects the update before anything is published', async () => {
    const store = new MemoryBlobStore()
    const db = await openDb(store)
    await db.update((tx) =>
      tx.exec(
        'CREATE TABLE parent (id INTEGER PRIMARY KEY); CREATE TABLE child (id INTEGER PRIMARY KEY, parent_id INTEGER REFERENCES parent(id) DEFERRABLE INITIALLY DEFERRED)',
      ),
    )
    const before = await manifestOf(store)
    const err = await db
      .update((tx) => tx.run('INSERT INTO child VALUES (1, 42)'))
      .catch((e: unknown) => e as { code?: string; message: string })
    expect(err).toMatchObject({ code: 'SQLITE_CONSTRAINT_FOREIGNKEY' })
    expect(await manifestOf(store)).toEqual(before)
    // A deferred violation fixed before the callback returns is fine.
    await db.update((tx) => {
      tx.run('INSERT INTO child VALUES (2, 7)')
      tx.run('INSERT INTO parent VALUES (7)')
    })
    const other = await openDb(store)
    expect(await other.view((tx) => tx.all('SELECT id FROM child'))).toEqual([{ id: 2 }])
    // Deleting a parent a child still references is a deferred violation too.
    const parentGone = await db
      .update((tx) => tx.run('DELETE FROM parent WHERE id = 7'))
      .catch((e: unknown) => e as { code?: string })
    expect(parentGone).toMatchObject({ code: 'SQLITE_CONSTRAINT_FOREIGNKEY' })
    expect(await other.view((tx) => tx.all('SELECT id FROM parent'))).toEqual([{ id: 7 }])
  })

  it('PRAGMA defer_foreign_keys inside a callback is checked before publishing too', async () => {
    const store = new MemoryBlobStore()
    const db = await openDb(store)
    await db.update((tx) =>
      tx.exec(
        'CREATE TABLE parent (id INTEGER PRIMARY KEY); CREATE TABLE child (id INTEGER PRIMARY KEY, parent_id INTEGER REFERENCES parent(id))',
      ),
    )
    const before = await manifestOf(store)
    const err = await db
      .update((tx) => {
        tx.exec('PRAGMA defer_foreign_keys = ON')
        tx.run('INSERT INTO child VALUES (1, 42)')
      })
      .catch((e: unknown) => e as { code?: string })
    expect(err).toMatchObject({ code: 'SQLITE_CONSTRAINT_FOREIGNKEY' })
    expect(await manifestOf(store)).toEqual(before)
  })

  it('a local disk-full after the CAS does not fail a write that landed', async (ctx) => {
    const { dir, cleanup } = await tempDir('full')
    const mnt = join(dir, 'small')
    await mkdir(mnt)
    try {
      execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=4m', 'tmpfs', mnt], { stdio: 'pipe' })
    } catch (err) {
      console.log(
        `skipped: cannot mount a small tmpfs here (${(err as Error).message.split('\n')[0]})`,
      )
      await cleanup()
      ctx.skip()
      return
    }
    try {
      const store = new MemoryBlobStore()
      const events: S3dbEvent[] = []
      const db = await openDb(store, {
        localPath: join(mnt, 'replica.sqlite'),
        onEvent: (e) => events.push(e),
      })
      await db.update((tx) => tx.exec('CREATE TABLE big (id INTEGER PRIMARY KEY, b BLOB)'))
      // Leave less room than the next commit's WAL pages need.
      const filler = join(mnt, 'filler')
      const fs = statfsSync(mnt)
      await writeFile(filler, Buffer.alloc(Math.max(0, fs.bavail * fs.bsize - 400_000)))
      const outcome = await codeOf(
        db.update((tx) => tx.run('INSERT INTO big VALUES (1, ?)', [Buffer.alloc(1_500_000, 7)])),
      )
      expect(outcome).toBe('ok')
      expect(events.some((e) => e.type === 'error' && e.operation === 'local-commit')).toBe(true)
      const other = await openDb(store)
      expect(await other.view((tx) => tx.get('SELECT length(b) AS n FROM big'))).toEqual({
        n: 1_500_000,
      })
      await rm(filler)
      // The replica rebuilds from the store and serves the committed row.
      expect(await db.view((tx) => tx.get('SELECT length(b) AS n FROM big'))).toEqual({
        n: 1_500_000,
      })
      await db.close()
    } finally {
      execFileSync('umount', ['-l', mnt])
      await cleanup()
    }
  })
})

describe('strict serializability', () => {
  it('an update that reads and writes nothing answers from the current state, not a stale replica', async () => {
    const store = new MemoryBlobStore()
    const a = await openDb(store)
    const b = await openDb(store)
    await a.update((tx) =>
      tx.exec(
        'CREATE TABLE accounts (id INTEGER PRIMARY KEY, balance INTEGER NOT NULL); INSERT INTO accounts VALUES (1, 50)',
      ),
    )
    await b.view(() => 0) // b's replica: balance 50
    await a.update((tx) => tx.run('UPDATE accounts SET balance = 500 WHERE id = 1'))
    // Resolved in a: every later update anywhere must see it.
    const answer = await b.update((tx) => {
      const { balance } = tx.get<{ balance: number }>('SELECT balance FROM accounts WHERE id = 1')!
      return balance < 80 ? 'refused' : 'ok'
    })
    expect(answer).toBe('ok')
  })
})

describe('lifecycle', () => {
  it('view inside view fails fast instead of deadlocking', async () => {
    const store = new MemoryBlobStore()
    const a = await openDb(store)
    const b = await openDb(store)
    await a.update((tx) => tx.exec('CREATE TABLE t (id INTEGER PRIMARY KEY)'))
    await b.view(() => 0)
    await a.update((tx) => tx.exec('CREATE TABLE u (id INTEGER PRIMARY KEY)')) // b must install a snapshot
    const inner = await b.view(() => b.view(() => 1)).catch((e: unknown) => e)
    expect(isS3dbError(inner, 'ReentrantTransaction')).toBe(true)
    // b is not stuck: its updates and views still run.
    await b.update((tx) => tx.run('INSERT INTO u VALUES (1)'))
    expect(await a.view((tx) => tx.all('SELECT id FROM u'))).toEqual([{ id: 1 }])
  })

  it('close() waits for views and compactions in flight', async () => {
    const base = new MemoryBlobStore()
    // Manifest reads take a while: close() is called while they are in flight.
    const slow = wrapStore(base, {
      get: async (key, options) => {
        await new Promise((r) => setTimeout(r, 20))
        return base.get(key, options)
      },
    })
    const db = await S3db.open(slow, PREFIX, { autoCompact: false })
    await setupCounter(db)
    await db.update(increment)
    const view = db.view(counter)
    const compaction = db.compact()
    const closed = db.close()
    expect(await view).toBe(1)
    expect((await compaction).compacted).toBe(true)
    await closed
    expect(await codeOf(db.view(counter))).toBe('Closed')
  })

  it('every close() resolves only once the replica is released', async () => {
    const { dir, cleanup } = await tempDir('close')
    try {
      const store = new MemoryBlobStore()
      const localPath = join(dir, 'replica.sqlite')
      const db = await S3db.open(store, PREFIX, { localPath })
      await setupCounter(db)
      const view = db.view(async (tx) => {
        await new Promise((r) => setTimeout(r, 50))
        return counter(tx)
      })
      const first = db.close()
      await db.close()
      expect(await view).toBe(0)
      const again = await S3db.open(store, PREFIX, { localPath })
      expect(await again.view(counter)).toBe(0)
      await again.close()
      await first
    } finally {
      await cleanup()
    }
  })
})
