/**
 * Publishing a commit: the manifest compare-and-swap and, when its outcome is
 * unclear, finding out from the store what happened. A commit is identified by
 * the key of the object it adds (its changeset, or its snapshot for DDL
 * commits), so a commit that already landed is recognised and never re-run.
 *
 * @module
 */
import { adoptRemote, type EngineContext } from './context.js'
import { CommitIndeterminateError, isS3dbError, StoreUnavailableError } from './errors.js'
import { epochOf, type Manifest, serializeManifest } from './format/manifest.js'
import { PUBLISH_WINDOW_MS } from './format/protocol.js'
import { reloadManifest } from './sync.js'
import { backoffDelay } from './util/backoff.js'
import { isTransient } from './util/retry.js'
import { sleep } from './util/sleep.js'

/** How a publish ended. */
export type PublishOutcome =
  /** `seq` is undefined when the commit landed but its exact seq is no longer visible. */
  | { committed: true; seq: number | undefined }
  /** 'expired': the upload is older than the publish window; upload again and retry. */
  | { committed: false; reason: 'conflict' | 'expired' }

/** The object a commit adds: what identifies it in later manifests. */
export interface CommitObject {
  key: string
  kind: 'changeset' | 'snapshot'
  /** When its upload completed: it must not be published after the publish window. */
  uploadedAt: number
}

/** Attempts to read the manifest when a commit's outcome is unclear. */
const RESOLVE_ATTEMPTS = 8

/**
 * CASes `next` over the manifest whose ETag is `ifMatch`. `ownKey` is the key
 * the commit adds. On success the context adopts `next`; on a lost race it
 * adopts the winner's manifest (already read to decide).
 */
export async function publishManifest(
  ctx: EngineContext,
  next: Manifest,
  ifMatch: string,
  own: CommitObject,
  signal?: AbortSignal,
): Promise<PublishOutcome> {
  const body = serializeManifest(next)
  for (let sendAttempt = 0; ; sendAttempt++) {
    // Retries and a frozen process can outlast the window GC relies on.
    if (Date.now() - own.uploadedAt >= PUBLISH_WINDOW_MS)
      return { committed: false, reason: 'expired' }
    try {
      const { etag } = await ctx.store.put(ctx.keys.manifest, body, {
        ifMatch,
        signal,
        contentType: 'application/json',
      })
      adoptRemote(ctx, next, etag)
      return { committed: true, seq: next.seq }
    } catch (err) {
      if (isS3dbError(err, 'PreconditionFailed')) {
        // Lost, unless an earlier attempt of ours is what changed the manifest.
        const outcome = await decide(ctx, next, own, ifMatch, signal, false)
        if (outcome === 'resend') continue
        return outcome
      }
      if (err instanceof StoreUnavailableError) {
        if (!err.maybeApplied && sendAttempt < RESOLVE_ATTEMPTS) {
          await sleep(backoffDelay(sendAttempt, 50, 2000), signal)
          continue
        }
        if (err.maybeApplied) {
          const outcome = await decide(ctx, next, own, ifMatch, signal, true)
          if (outcome !== 'resend') return outcome
          continue
        }
      }
      throw err
    }
  }
}

/**
 * Reads the manifest to learn whether our commit landed. Returns 'resend' when
 * the manifest is still the one we CASed against (our PUT did not apply, and a
 * late duplicate of it can only apply while that stays true, so resending is
 * safe).
 */
async function decide(
  ctx: EngineContext,
  next: Manifest,
  own: CommitObject,
  ifMatch: string,
  signal: AbortSignal | undefined,
  ambiguous: boolean,
): Promise<PublishOutcome | 'resend'> {
  let lastError: unknown
  for (let attempt = 0; attempt < RESOLVE_ATTEMPTS; attempt++) {
    try {
      const { manifest, etag } = await reloadManifest(ctx, signal)
      const found = findCommit(manifest, own)
      if (found) return { committed: true, seq: found.seq }
      if (ambiguous && etag === ifMatch) return 'resend'
      if (ambiguous && manifest.snapshot.seq >= next.seq) {
        // Our seq was folded into a snapshot before we could look: if our write
        // was the one at that seq, nothing left in the store says so.
        throw new CommitIndeterminateError(
          `cannot tell whether the write committed: its outcome was lost in transit and seq ${next.seq} has since been compacted; check the data before retrying`,
        )
      }
      return { committed: false, reason: 'conflict' }
    } catch (err) {
      if (err instanceof CommitIndeterminateError || isS3dbError(err, 'Aborted')) throw err
      lastError = err
      // Only a failing store is worth waiting for (access denied or a corrupt manifest is not).
      if (!isTransient(err)) break
      await sleep(backoffDelay(attempt, 100, 5000), signal)
    }
  }
  if (!ambiguous) throw lastError
  throw new CommitIndeterminateError(
    'cannot tell whether the write committed: the store failed while the commit was in flight and its outcome could not be read; check the data before retrying',
    { cause: lastError },
  )
}

/**
 * Whether `own` was committed according to `manifest`, and at which seq if that
 * is still visible: a changeset in the log, a snapshot that is current, or a
 * snapshot whose epoch has changesets (writers append only under the epoch of
 * the snapshot they saw, so those prove it was committed).
 */
function findCommit(
  manifest: Manifest,
  own: CommitObject,
): { seq: number | undefined } | undefined {
  if (own.kind === 'changeset') {
    const entry = manifest.log.find((e) => e.key === own.key)
    return entry ? { seq: entry.seq } : undefined
  }
  if (manifest.snapshot.key === own.key) return { seq: manifest.snapshot.seq }
  const dir = `changesets/${epochOf(own.key)}/`
  return manifest.log.some((e) => e.key.includes(dir)) ? { seq: undefined } : undefined
}
