/**
 * Shared steps of the commands: resolve the target to a store, read its
 * manifest (without downloading anything else), open an S3db without ever
 * creating a database by accident.
 *
 * @module
 */
import { type BlobStore, isS3dbError, type NotFoundError, S3db, type S3dbEvent } from '@s3db/core'
import { DatabaseKeys, type FetchedManifest, readManifest } from '@s3db/core/internal'
import type { CommandContext } from './command.js'
import { CliError, UsageError } from './errors.js'
import { newActivity, type StoreActivity } from './interrupts.js'
import { openStore } from './store.js'
import { parseTarget, type Target } from './target.js'

export interface Resolved {
  target: Target
  store: BlobStore
  keys: DatabaseKeys
  /** What the command did to the store (for the line an interrupt prints). */
  activity: StoreActivity
}

/** Parses the first positional as the target and opens its store. */
export async function resolveTarget(
  ctx: Pick<CommandContext, 'positionals' | 'values' | 'env' | 'interrupts'>,
  options: { create?: boolean } = {},
): Promise<Resolved> {
  const target = parseTarget(ctx.positionals[0])
  const activity = ctx.interrupts.track(newActivity(target.display))
  const store = await openStore(target, {
    pathStyle: ctx.values['path-style'] === true,
    create: options.create,
    debug: ctx.values.debug === true,
    env: ctx.env,
    activity,
  })
  return { target, store, keys: new DatabaseKeys(target.prefix), activity }
}

/**
 * Creating a database (init, push --create) on S3 starts with a HEAD of the
 * manifest, whose 404 carries no error code: a missing bucket then surfaces
 * as "object not found" from a later step. When a create fails that way, one
 * LIST (which does say NoSuchBucket) tells the two apart.
 */
export async function whyCreateFailed(
  r: Resolved,
  err: unknown,
  signal?: AbortSignal,
): Promise<unknown> {
  if (r.target.kind !== 's3' || !isS3dbError(err)) return err
  if (err.code !== 'NotFound' && err.code !== 'PreconditionFailed') return err
  try {
    for await (const _ of r.store.list(r.keys.prefix, { signal })) break
  } catch (probe) {
    if (isS3dbError(probe, 'BucketNotFound')) return probe
  }
  return err
}

export function noDatabase(target: Target): CliError {
  return new CliError(
    `no database at ${target.display}`,
    'check the target, or create one with `s3db init <target>`',
  )
}

/** Reads and validates the manifest; a missing one becomes "no database at ...". */
export function fetchManifest(r: Resolved, signal?: AbortSignal): Promise<FetchedManifest> {
  return orNoDatabase(r, () => readManifest(r.store, r.keys.manifest, r.keys.prefix, signal))
}

/** True when a database (its manifest) exists at the target. */
export async function databaseExists(r: Resolved, signal?: AbortSignal): Promise<boolean> {
  try {
    await r.store.stat(r.keys.manifest, { signal })
    return true
  } catch (err) {
    if (isS3dbError(err, 'NotFound')) return false
    throw err
  }
}

/**
 * Runs `fn` against the target; a missing manifest (the database does not
 * exist) becomes "no database at ...", without a request to check first.
 */
export async function orNoDatabase<T>(r: Resolved, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn()
  } catch (err) {
    if (isS3dbError(err, 'NotFound') && (err as NotFoundError).key === r.keys.manifest) {
      throw noDatabase(r.target)
    }
    throw err
  }
}

/** Opens the database for queries or compaction; never creates one (a CLI typo must not). */
export function openDatabase(
  r: Resolved,
  options: {
    signal: AbortSignal
    onEvent?: ((event: S3dbEvent) => void) | undefined
    /** The replica file (default: a temp file removed on close). */
    localPath?: string | undefined
    /** A past state, read-only (then no localPath: it opens in a temp replica). */
    at?: { seq: number } | { time: string } | undefined
  },
): Promise<S3db> {
  return orNoDatabase(r, () =>
    S3db.open(
      r.store,
      r.keys.prefix,
      options.at
        ? { at: options.at, onEvent: options.onEvent, signal: options.signal }
        : {
            autoCompact: false,
            createIfMissing: false,
            onEvent: options.onEvent,
            signal: options.signal,
            localPath: options.localPath,
          },
    ),
  )
}

/**
 * Parses `--at`: a seq (digits) or an ISO 8601 time such as 2026-12-06T10:00Z.
 * Returns undefined when not given.
 */
export function parseAt(
  value: string | boolean | undefined,
  command: string,
): { seq: number } | { time: string } | undefined {
  if (value === undefined) return undefined
  const text = String(value).trim()
  if (/^\d+$/.test(text)) {
    const seq = Number(text)
    if (Number.isSafeInteger(seq)) return { seq }
  } else if (/^\d{4}-\d{2}-\d{2}/.test(text) && !Number.isNaN(Date.parse(normaliseIso(text)))) {
    return { time: text }
  }
  throw new UsageError(
    `invalid --at ${JSON.stringify(text)}: give a seq (like 120) or an ISO time (like 2026-12-06T10:00Z)`,
    command,
  )
}

function normaliseIso(s: string): string {
  return s.replace(/T(\d{2}:\d{2})(Z|[+-]|$)/i, 'T$1:00$2')
}
