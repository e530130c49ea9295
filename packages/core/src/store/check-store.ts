import { randomUUID } from 'node:crypto'
import { isS3dbError } from '../errors.js'
import type { BlobStore } from './blob-store.js'
import { md5Hex } from './body.js'
import { validatePrefix } from './keys.js'

/** One verdict of {@link checkStore}. */
export interface StoreCheck {
  name: string
  ok: boolean
  /** False for checks whose failure costs speed, not correctness. */
  required: boolean
  detail: string
}

/** What {@link checkStore} found. `ok` is false when any required check failed. */
export interface StoreCheckReport {
  ok: boolean
  checks: StoreCheck[]
}

/** Options of {@link checkStore}. */
export interface CheckStoreOptions {
  /** Concurrent compare-and-swap writers in the race check (default 8). */
  racers?: number
  signal?: AbortSignal
}

const text = (s: string) => new TextEncoder().encode(s)

/**
 * Proves that `store` honours conditional writes, which s3db's correctness rests
 * on: create-only PUTs refuse an existing key, a stale `If-Match` is refused, and
 * of several PUTs racing on one ETag exactly one wins. Several "S3-compatible"
 * servers accept a stale `If-Match` with 200; this reports them.
 *
 * Works on scratch keys under `prefix` (never outside it) and deletes them after.
 */
export async function checkStore(
  store: BlobStore,
  prefix: string,
  options: CheckStoreOptions = {},
): Promise<StoreCheckReport> {
  validatePrefix(prefix)
  const signal = options.signal
  const racers = options.racers ?? 8
  const base = `${prefix}_s3db_check/${randomUUID()}/`
  const checks: StoreCheck[] = []
  const record = (name: string, ok: boolean, detail: string, required = true) => {
    checks.push({ name, ok, required, detail })
  }
  const refused = async (p: Promise<unknown>): Promise<boolean | 'error'> => {
    try {
      await p
      return false
    } catch (err) {
      return isS3dbError(err, 'PreconditionFailed') ? true : 'error'
    }
  }

  try {
    const createKey = `${base}create`
    const first = await store.put(createKey, text('first'), { ifNoneMatch: true, signal })
    record('write and read back', true, 'created a scratch object')
    const second = await refused(
      store.put(createKey, text('second'), { ifNoneMatch: true, signal }),
    )
    record(
      'create-only write (If-None-Match: *)',
      second === true,
      second === true
        ? 'a second create of the same key was refused'
        : 'the store OVERWROTE an existing key although the write was create-only',
    )

    const stale = await refused(
      store.put(createKey, text('stale'), {
        ifMatch: md5Hex(text('not the current content')),
        signal,
      }),
    )
    record(
      'compare-and-swap with a stale ETag (If-Match)',
      stale === true,
      stale === true
        ? 'a write with a stale ETag was refused'
        : 'the store ACCEPTED a write whose If-Match ETag did not match: it ignores conditional writes',
    )

    const raceKey = `${base}race`
    const { etag } = await store.put(raceKey, text('base'), { signal })
    const results = await Promise.allSettled(
      Array.from({ length: racers }, (_, i) =>
        store.put(raceKey, text(`racer-${i}`), { ifMatch: etag, signal }),
      ),
    )
    const winners = results.filter((r) => r.status === 'fulfilled').length
    record(
      `${racers} concurrent compare-and-swap writers`,
      winners === 1,
      winners === 1
        ? 'exactly one writer won'
        : `${winners} writers won the same compare-and-swap (expected exactly 1)`,
    )

    const cond = await store.get(createKey, { ifNoneMatch: first.etag, signal })
    record(
      'conditional read (If-None-Match)',
      cond.notModified,
      cond.notModified
        ? 'an unchanged object answered "not modified"'
        : 'the store sent the whole body for an unchanged object (correct, but every read costs a download)',
      false,
    )
  } catch (err) {
    record('store reachable', false, err instanceof Error ? err.message : String(err))
  } finally {
    await store.deletePrefix(base).catch((err: unknown) => {
      record(
        'cleanup',
        false,
        `could not delete scratch keys under ${base}: ${(err as Error).message}`,
      )
    })
  }
  return { ok: checks.every((c) => c.ok || !c.required), checks }
}
