/**
 * Concurrent Kysely transactions from several S3db instances on one database,
 * on the memory store and on MinIO: exact counts, conserved money, re-runs
 * observed, and serializability (no write skew) through Kysely.
 */
import { type BlobStore, MemoryBlobStore, S3BlobStore, S3db } from '@s3db/core'
import { S3dbKysely } from '@s3db/kysely'
import type { Kysely } from 'kysely'
import { describe, expect, it } from 'vitest'
import { freshBucket, s3Client, s3Endpoint, s3SkipReason } from '../support/s3.js'
import { runBank } from './bank.js'

const INSTANCES = 3
const WORKERS = 4
const EACH = 8

interface OnCall {
  doctor: { id: number; on_call: number }
}

/**
 * Two doctors, each in their own instance, both read "2 on call" and go off
 * call. Their first runs wait for each other after reading, so both decisions
 * are made on the same state; serializability must re-run one of them.
 */
async function writeSkew(store: BlobStore, prefix: string): Promise<number[]> {
  const [a, b] = await Promise.all([S3db.open(store, prefix), S3db.open(store, prefix)])
  try {
    const ka = new S3dbKysely<OnCall>({ s3db: a })
    const kb = new S3dbKysely<OnCall>({ s3db: b })
    await ka.schema
      .createTable('doctor')
      .addColumn('id', 'integer', (c) => c.primaryKey())
      .addColumn('on_call', 'integer', (c) => c.notNull())
      .execute()
    await ka
      .insertInto('doctor')
      .values([
        { id: 1, on_call: 1 },
        { id: 2, on_call: 1 },
      ])
      .execute()
    await kb.selectFrom('doctor').selectAll().execute()
    let arrived = 0
    let release!: () => void
    const bothRead = new Promise<void>((r) => {
      release = r
    })
    const runs = [0, 0]
    const goOffCall = (k: Kysely<OnCall>, id: number) =>
      k.transaction().execute(async (trx) => {
        runs[id - 1]!++
        const onCall = await trx
          .selectFrom('doctor')
          .select((eb) => eb.fn.countAll<number>().as('n'))
          .where('on_call', '=', 1)
          .executeTakeFirstOrThrow()
        if (runs[id - 1] === 1 && ++arrived === 2) release()
        if (runs[id - 1] === 1) await bothRead
        if (onCall.n >= 2) {
          await trx.updateTable('doctor').set({ on_call: 0 }).where('id', '=', id).execute()
        }
      })
    await Promise.all([goOffCall(ka, 1), goOffCall(kb, 2)])
    const rows = await ka.selectFrom('doctor').select('on_call').orderBy('id').execute()
    expect(rows.reduce((n, r) => n + r.on_call, 0)).toBe(1)
    expect(runs.reduce((n, r) => n + r, 0)).toBe(3)
    return runs
  } finally {
    await Promise.all([a.close(), b.close()])
  }
}

describe('concurrent Kysely transactions (memory store)', () => {
  it(`${INSTANCES} instances x ${WORKERS} concurrent transactions: exact counter, conserved total`, async () => {
    const tally = await runBank(new MemoryBlobStore(), 'bank/', {
      instances: INSTANCES,
      workers: WORKERS,
      each: EACH,
    })
    console.log(`memory: ${tally.acked} transactions, ${tally.runs - tally.acked} re-runs`)
  })

  it('no write skew: one of two conflicting transactions re-runs', async () => {
    await writeSkew(new MemoryBlobStore(), 'skew/')
  })
})

describe.skipIf(Boolean(s3SkipReason()))('concurrent Kysely transactions (MinIO)', () => {
  const withBucket = async (label: string, fn: (store: BlobStore) => Promise<void>) => {
    const client = s3Client(s3Endpoint()!)
    try {
      const bucket = await freshBucket(client, label)
      await fn(new S3BlobStore({ client, bucket }))
    } finally {
      client.destroy()
    }
  }

  it(`${INSTANCES} instances x ${WORKERS} concurrent transactions: exact counter, conserved total`, {
    timeout: 240_000,
  }, async () => {
    await withBucket('kysely-bank', async (store) => {
      const tally = await runBank(store, 'bank/', {
        instances: INSTANCES,
        workers: WORKERS,
        each: EACH,
      })
      console.log(`MinIO: ${tally.acked} transactions, ${tally.runs - tally.acked} re-runs`)
    })
  })

  it('no write skew: one of two conflicting transactions re-runs', async () => {
    await withBucket('kysely-skew', (store) => writeSkew(store, 'skew/').then(() => {}))
  })
})

if (s3SkipReason()) console.log(`MinIO Kysely tests skipped: ${s3SkipReason()}`)
