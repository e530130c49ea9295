/**
 * Shared steps of the commands: resolve the target to a store, read its
 * manifest (without downloading anything else), open an S3db without ever
 * creating a database by accident.
 *
 * @module
 */
import { type BlobStore, isS3dbError, S3db, type S3dbEvent } from '@s3db/core'
import { DatabaseKeys, type Manifest, parseManifest } from '@s3db/core/internal'
import type { CommandContext } from './command.js'
import { CliError } from './errors.js'
import { openStore } from './store.js'
import { parseTarget, type Target } from './target.js'

export interface Resolved {
  target: Target
  store: BlobStore
  keys: DatabaseKeys
}

/** Parses the first positional as the target and opens its store. */
export async function resolveTarget(
  ctx: CommandContext,
  options: { create?: boolean } = {},
): Promise<Resolved> {
  const target = parseTarget(ctx.positionals[0])
  const store = await openStore(target, {
    pathStyle: ctx.values['path-style'] === true,
    create: options.create,
    env: ctx.env,
  })
  return { target, store, keys: new DatabaseKeys(target.prefix) }
}

export function noDatabase(target: Target): CliError {
  return new CliError(
    `no database at ${target.display}`,
    'check the target, or create one with `s3db init <target>`',
  )
}

export interface FetchedManifest {
  manifest: Manifest
  etag: string
  lastModified: Date | undefined
  bytes: number
}

/** Reads and validates the manifest; a missing one becomes "no database at ...". */
export async function fetchManifest(r: Resolved, signal?: AbortSignal): Promise<FetchedManifest> {
  let res: Awaited<ReturnType<BlobStore['get']>>
  try {
    res = await r.store.get(r.keys.manifest, { signal })
  } catch (err) {
    if (isS3dbError(err, 'NotFound')) throw noDatabase(r.target)
    throw err
  }
  if (res.notModified) throw new Error('store answered "not modified" to an unconditional read')
  return {
    manifest: parseManifest(res.body, r.keys.manifest, r.keys.prefix),
    etag: res.etag,
    lastModified: res.lastModified,
    bytes: res.body.byteLength,
  }
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
 * Opens the database for queries, compaction or gc. S3db.open would create a
 * missing database; a CLI typo must not, so the manifest is checked first.
 */
export async function openDatabase(
  r: Resolved,
  ctx: CommandContext,
  onEvent?: (event: S3dbEvent) => void,
): Promise<S3db> {
  if (!(await databaseExists(r, ctx.signal))) throw noDatabase(r.target)
  return S3db.open(r.store, r.keys.prefix, {
    autoCompact: false,
    // Never create one between the check above and the open.
    createIfMissing: false,
    onEvent,
    signal: ctx.signal,
  })
}
