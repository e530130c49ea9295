/**
 * Peak memory of a DDL commit against a data commit on a large database
 * (256 MiB; 32 MiB with --quick), filesystem store. Each commit runs in a fresh
 * process on a warm replica, so the kernel's high-water mark is its own. The
 * third row is what the previous DDL path cost (the database serialised into
 * memory), measured in the same run.
 */
import { execFile } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { FileSystemBlobStore, S3db } from '@s3db/core'
import Database from 'better-sqlite3'
import type { BenchOptions } from '../lib/measure.ts'
import { type Row, report } from '../lib/report.ts'

export async function ddlMemory(opts: BenchOptions): Promise<void> {
  const mib = opts.quick ? 32 : 256
  const dir = await mkdtemp(join(tmpdir(), 's3db-bench-ddl-'))
  try {
    const seed = join(dir, 'seed.sqlite')
    const sdb = new Database(seed)
    sdb.exec('CREATE TABLE blobs (id INTEGER PRIMARY KEY, data BLOB NOT NULL)')
    const insert = sdb.prepare('INSERT INTO blobs (data) VALUES (randomblob(4000))')
    sdb.transaction(() => {
      for (let i = 0; i < (mib * 1048576) / 4096; i++) insert.run()
    })()
    sdb.close()
    const root = join(dir, 'store')
    const store = await FileSystemBlobStore.open(root)
    await S3db.init(store, 'bench/ddl/', { from: seed })
    const localPath = join(dir, 'replica.sqlite')
    const warm = await S3db.open(store, 'bench/ddl/', { localPath })
    await warm.close()
    const worker = new URL('../workers/ddl-memory.ts', import.meta.url).pathname
    const rows: Row[] = []
    for (const kind of ['changeset', 'ddl', 'serialize'] as const) {
      const { stdout } = await promisify(execFile)(
        process.execPath,
        ['--expose-gc', worker, root, localPath, kind],
        { maxBuffer: 1 << 20 },
      )
      const r = JSON.parse(stdout.trim().split('\n').at(-1)!) as {
        ms: number
        addedMiB: number
        peakMiB: number
      }
      rows.push({
        commit:
          kind === 'changeset'
            ? 'data (changeset)'
            : kind === 'ddl'
              ? 'DDL (snapshot, streamed)'
              : 'previous DDL path (serialise)',
        'database MiB': mib,
        ms: kind === 'serialize' ? '-' : r.ms,
        'peak RSS MiB': r.peakMiB,
        'added MiB': r.addedMiB,
      })
    }
    report(
      `ddl-memory: peak memory of a commit on a ${mib} MiB database (filesystem store)`,
      rows,
      {
        databaseMiB: mib,
      },
    )
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
}
