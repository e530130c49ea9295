/** Filesystem-store specifics: multi-process CAS, containment, reserved names, modes, crash leftovers. */
import { execFile } from 'node:child_process'
import { existsSync } from 'node:fs'
import {
  lstat,
  mkdir,
  mkdtemp,
  readdir,
  readFile,
  rm,
  symlink,
  utimes,
  writeFile,
} from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { FileSystemBlobStore, isS3dbError } from '@s3db/core'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'

const execFileP = promisify(execFile)
const text = (s: string) => new TextEncoder().encode(s)

async function codeOf(p: Promise<unknown>): Promise<string> {
  try {
    await p
    return 'ok'
  } catch (err) {
    return isS3dbError(err) ? err.code : String(err)
  }
}

async function listKeys(store: FileSystemBlobStore, prefix = ''): Promise<string[]> {
  const keys: string[] = []
  for await (const e of store.list(prefix)) keys.push(e.key)
  return keys
}

describe('FileSystemBlobStore', () => {
  let base: string
  let root: string
  let outside: string
  let store: FileSystemBlobStore

  beforeEach(async () => {
    base = await mkdtemp(join(tmpdir(), 's3db-fsx-'))
    root = join(base, 'root')
    outside = join(base, 'outside')
    await mkdir(outside)
    await writeFile(join(outside, 'secret'), 'top secret')
    store = await FileSystemBlobStore.open(root)
  })
  afterEach(async () => {
    await store.close()
    await rm(base, { recursive: true, force: true })
  })

  it('keeps key K at <root>/K, the Go store layout', async () => {
    await store.put('db/snapshots/snap-init.sqlite', text('x'))
    expect(await readFile(join(root, 'db/snapshots/snap-init.sqlite'), 'utf8')).toBe('x')
  })

  it('creates files 0600 and directories 0700', async () => {
    await store.put('db/changesets/e1/cs-1.bin', text('x'))
    expect((await lstat(join(root, 'db/changesets/e1/cs-1.bin'))).mode & 0o777).toBe(0o600)
    expect((await lstat(join(root, 'db/changesets/e1'))).mode & 0o777).toBe(0o700)
    expect((await lstat(join(root, 'db'))).mode & 0o777).toBe(0o700)
  })

  it('refuses to read or write through a planted directory symlink, and does not list through it', async () => {
    await symlink(outside, join(root, 'evil'))
    expect(await codeOf(store.get('evil/secret'))).toBe('InvalidArgument')
    expect(await codeOf(store.stat('evil/secret'))).toBe('InvalidArgument')
    expect(await codeOf(store.put('evil/planted', text('x')))).toBe('InvalidArgument')
    expect(await codeOf(store.delete('evil/secret'))).toBe('InvalidArgument')
    expect(await readdir(outside)).toEqual(['secret'])
    expect(await listKeys(store)).toEqual([])
    expect(await store.deletePrefix('')).toBe(0)
    expect(await readFile(join(outside, 'secret'), 'utf8')).toBe('top secret')
  })

  it('refuses a planted file symlink for reads, conditional and plain writes', async () => {
    await mkdir(join(root, 'db'), { recursive: true })
    await symlink(join(outside, 'secret'), join(root, 'db/manifest.json'))
    expect(await codeOf(store.get('db/manifest.json'))).toBe('InvalidArgument')
    expect(await codeOf(store.put('db/manifest.json', text('x')))).toBe('InvalidArgument')
    expect(await codeOf(store.put('db/manifest.json', text('x'), { ifNoneMatch: true }))).toBe(
      'InvalidArgument',
    )
    expect(await readFile(join(outside, 'secret'), 'utf8')).toBe('top secret')
  })

  it('refuses a symlink or FIFO planted at .s3db.lock, creating and changing nothing outside', async () => {
    const lock = join(root, '.s3db.lock')
    const cases: Array<[string, () => Promise<void>]> = [
      ['dangling symlink', () => symlink(join(outside, 'created'), lock)],
      ['symlink to a file', () => symlink(join(outside, 'secret'), lock)],
      ['FIFO', () => execFileP('mkfifo', [lock]).then(() => {})],
    ]
    for (const [what, plant] of cases) {
      await rm(lock, { force: true })
      await plant()
      // Every conditional write and every delete takes the lock.
      expect(await codeOf(store.put('db/a', text('x'), { ifNoneMatch: true })), what).toBe(
        'InvalidArgument',
      )
      expect(await codeOf(store.delete('db/a')), what).toBe('InvalidArgument')
      expect(await readdir(outside), what).toEqual(['secret'])
      expect(await readFile(join(outside, 'secret'), 'utf8'), what).toBe('top secret')
      expect(await listKeys(store), what).toEqual([])
    }
    // Removing the planted file is all it takes to work again.
    await rm(lock)
    await store.put('db/a', text('x'), { ifNoneMatch: true })
    expect(await listKeys(store)).toEqual(['db/a'])
  })

  it('refuses a FIFO planted as an object instead of hanging on it', async () => {
    await mkdir(join(root, 'db'), { recursive: true })
    await execFileP('mkfifo', [join(root, 'db/manifest.json')])
    expect(await codeOf(store.get('db/manifest.json'))).toBe('NotFound')
    expect(await codeOf(store.put('db/manifest.json', text('x'), { ifMatch: '"x"' }))).toBe(
      'InvalidArgument',
    )
  })

  it('reserves the lock and temp names and hides them from list', async () => {
    expect(await codeOf(store.put('.s3db.lock', text('x')))).toBe('InvalidArgument')
    expect(await codeOf(store.put('db/.S3DB.LOCK/x', text('x')))).toBe('InvalidArgument')
    expect(await codeOf(store.put('db/.s3db-tmp-abc', text('x')))).toBe('InvalidArgument')
    await store.put('db/a', text('a'), { ifNoneMatch: true }) // takes the lock: creates .s3db.lock
    expect(existsSync(join(root, '.s3db.lock'))).toBe(true)
    await writeFile(join(root, 'db/.s3db-tmp-leftover'), 'partial')
    expect(await listKeys(store)).toEqual(['db/a'])
  })

  it('ignores temp files left by a crashed writer and cleans old ones', async () => {
    await store.put('db/a', text('a'))
    const old = join(root, 'db/.s3db-tmp-crashed')
    const fresh = join(root, 'db/.s3db-tmp-inflight')
    await writeFile(old, 'partial')
    await writeFile(fresh, 'partial')
    const twoHoursAgo = new Date(Date.now() - 2 * 3600_000)
    await utimes(old, twoHoursAgo, twoHoursAgo)
    expect(await listKeys(store)).toEqual(['db/a'])
    expect(await store.cleanTempFiles()).toBe(1)
    expect(existsSync(old)).toBe(false)
    expect(existsSync(fresh)).toBe(true)
  })

  it('treats a directory as no object and refuses a key that would need a file to be a directory', async () => {
    await store.put('a/b', text('x'))
    expect(await codeOf(store.get('a'))).toBe('NotFound')
    expect(await codeOf(store.put('a', text('y')))).toBe('InvalidArgument')
    expect(await codeOf(store.put('a/b/c', text('y')))).toBe('InvalidArgument')
  })

  it('prunes directories emptied by deletes', async () => {
    await store.put('db/changesets/e1/cs-1.bin', text('x'))
    await store.delete('db/changesets/e1/cs-1.bin')
    expect(existsSync(join(root, 'db'))).toBe(false)
    // And a later write recreates them.
    await store.put('db/changesets/e1/cs-2.bin', text('y'))
    expect(await listKeys(store)).toEqual(['db/changesets/e1/cs-2.bin'])
  })

  it('rejects a root that is a file', async () => {
    await writeFile(join(base, 'file'), 'x')
    expect(await codeOf(FileSystemBlobStore.open(join(base, 'file')))).not.toBe('ok')
  })

  it('serializes compare-and-swap across 4 OS processes: every acknowledged write is kept, none lost', {
    timeout: 120_000,
  }, async () => {
    const script = fileURLToPath(new URL('./fixtures/cas-hammer.mjs', import.meta.url))
    await store.put('db/list.json', text('[]'))
    const procs = 4
    const perProc = 50
    const outputs = await Promise.all(
      Array.from({ length: procs }, (_, id) =>
        execFileP(process.execPath, [script, root, 'db/list.json', `p${id}`, String(perProc)], {
          cwd: process.cwd(),
        }),
      ),
    )
    const results = outputs.map(
      (o) => JSON.parse(o.stdout) as { acked: string[]; conflicts: number },
    )
    const acked = results.flatMap((r) => r.acked)
    const blob = await store.get('db/list.json')
    if (blob.notModified) throw new Error('notModified')
    const final = JSON.parse(Buffer.from(blob.body).toString()) as string[]
    expect(acked).toHaveLength(procs * perProc)
    expect(final).toHaveLength(procs * perProc)
    expect(new Set(final)).toEqual(new Set(acked))
    // Each process's entries appear in its own order.
    for (let id = 0; id < procs; id++) {
      const mine = final.filter((e) => e.startsWith(`p${id}:`))
      expect(mine).toEqual(Array.from({ length: perProc }, (_, i) => `p${id}:${i}`))
    }
    console.log(
      `filesystem CAS: ${procs} processes x ${perProc} writes, ${results.reduce((n, r) => n + r.conflicts, 0)} lost races retried`,
    )
  })
})
