/**
 * The one publishing path: every change of manifest.json (commit, DDL commit,
 * migration, compaction, push, init) goes through {@link publishManifest}, which
 * owns the compare-and-swap, the publish window, ambiguity, backoff and the
 * decision read. A protocol step only says what it wants written, and how to
 * rebuild that on top of a manifest that moved (or that it must give up).
 *
 * Outcomes are exact. A send is "ambiguous" unless its error proves the store
 * did not apply it (412/409, a refusal before applying, a request that never
 * left). Once any send of a publish was ambiguous, the publish stays ambiguous
 * until a manifest proves the answer: our object at our seq (committed), or
 * another object there / a manifest that moved without us (not committed, and a
 * late copy of our PUT can never apply: its If-Match no longer holds). When
 * nothing left in the store can prove it, the answer is CommitIndeterminate,
 * never "not applied".
 *
 * @module
 */
import {
  AbortedError,
  AlreadyExistsError,
  CommitIndeterminateError,
  isS3dbError,
  StoreUnavailableError,
} from './errors.js'
import { foldRecordKey, foldRecordOf, serializeFoldRecord } from './format/history.js'
import {
  carriedAt,
  type DatabaseKeys,
  keyAtSeq,
  type Manifest,
  recordsCarried,
  serializeManifest,
  withCarriedRecord,
  withFoldedHistory,
} from './format/manifest.js'
import { PUBLISH_WINDOW_MS } from './format/protocol.js'
import type { Runtime } from './runtime.js'
import type { BlobStore } from './store/blob-store.js'
import { backoffDelay } from './util/backoff.js'
import { isTransient } from './util/retry.js'

/** A manifest read from the store, with its ETag. */
export interface ManifestVersion {
  manifest: Manifest
  etag: string
}

/** What a publish needs of the engine (an EngineContext, or a bare store for tools). */
export interface Publisher {
  readonly store: BlobStore
  readonly keys: DatabaseKeys
  readonly runtime: Runtime
  /** Reads the current manifest (and lets the caller adopt it). */
  read(): Promise<ManifestVersion>
  /** Our CAS wrote `version` (the caller adopts it). */
  wrote(version: ManifestVersion): void
}

/** The object a publish adds: what identifies it in later manifests. */
export interface PublishedObject {
  key: string
  /** When its upload started ({@link Runtime.monotonic}): published only within the window. */
  uploadedAt: number
  /**
   * Co-commit (co-commit.ts): the key of our offer, which another writer may
   * carry in its own commit over the same base (the record of that commit in
   * `carried` then lists it). `key` itself, or the offer a merged changeset
   * replaced. A lost race is then proven only by the carried record of the
   * commit that followed the base.
   */
  offer?: string | undefined
}

/** What to publish. */
export interface PublishRequest {
  /** The manifest to CAS over; `undefined` creates the manifest (init). */
  base: ManifestVersion | undefined
  /** The manifest to write over `base`. */
  next: Manifest
  own: PublishedObject
  /**
   * On a lost race: the manifest to write over the winner's instead, or
   * undefined to stop (outcome 'conflict'). Omitted: stop at the first lost race
   * (a commit re-runs its callbacks instead).
   */
  rebase?: ((current: Manifest) => Manifest | undefined) | undefined
  /**
   * Co-commit (co-commit.ts): another writer is expected to carry our offer
   * in its commit over `base`. Before sending, read the manifest after
   * `firstMs`, then every `everyMs` until `steadyMs`, then at intervals
   * growing by half each time, for up to `waitMs`: once it moved on,
   * that read decides, as after a lost race (our offer carried: committed;
   * proven absent: 'conflict'). Only when it did not move is our CAS sent.
   */
  follow?: Follow | undefined
  /** Co-commit: the offers of other writers `own` carries (its `carried` record). */
  carried?: readonly string[] | undefined
  /** Most lost races to rebase over (default 10). */
  maxConflicts?: number | undefined
  /**
   * Aborts before the first send (AbortedError, nothing published). Once a CAS
   * was sent the publish runs to its true outcome (or CommitIndeterminate).
   */
  signal?: AbortSignal | undefined
}

/** When a follower reads the manifest (see {@link PublishRequest.follow}). */
export interface Follow {
  firstMs: number
  everyMs: number
  steadyMs: number
  waitMs: number
}

/** How a publish ended. */
export type PublishOutcome =
  | {
      committed: true
      seq: number
      current: ManifestVersion
      /** How long the CAS that landed took, when it was one send of ours answered at once. */
      sendMs?: number | undefined
      /** Decided by a follow: ms from its start to the read that saw the commit. */
      followedMs?: number | undefined
    }
  /** 'conflict': another writer won; `current` is its manifest. */
  | {
      committed: false
      reason: 'conflict'
      current: ManifestVersion
      /**
       * A send of ours failed without proof that it was not applied. The loss
       * is exact, but a late copy of that send could still apply if the
       * manifest ever became again, byte for byte, the version it was sent
       * over (an operator restoring an old manifest: content ETags repeat).
       * Its objects must then not be deleted at once; GC removes them later.
       */
      lateCopies?: boolean | undefined
      /** Decided by a follow: ms from its start to the read that saw the commit. */
      followedMs?: number | undefined
    }
  /** 'expired': the upload is older than the publish window; upload again and retry. */
  | { committed: false; reason: 'expired' }

/** Sends of one manifest version that failed without being applied, before giving up. */
const SEND_ATTEMPTS = 8
/** Reads deciding an ambiguous outcome, before CommitIndeterminate. */
const DECIDE_ATTEMPTS = 8

/**
 * True when `err` proves the store did not apply the request: it answered with
 * a refusal, or the request never left. Anything else (a timeout, a reset
 * connection, a plain Error from a user's store, an AbortError from an SDK)
 * may have been applied.
 */
export function provesNotApplied(err: unknown): boolean {
  if (err instanceof StoreUnavailableError) return !err.maybeApplied
  return (
    isS3dbError(err, 'PreconditionFailed') ||
    isS3dbError(err, 'AccessDenied') ||
    isS3dbError(err, 'BucketNotFound') ||
    isS3dbError(err, 'InvalidArgument')
  )
}

/** CASes the manifest; see the module comment for the rules. */
export async function publishManifest(p: Publisher, req: PublishRequest): Promise<PublishOutcome> {
  // Fold records this publish wrote: removed again when it ends without having
  // (possibly) published, so a refused or lost write leaves no object behind.
  // Not when a send may land late (see `lateCopies`).
  const records: string[] = []
  const sent = { unproven: false }
  try {
    const outcome = await publish(p, req, records, sent)
    if (!outcome.committed && !sent.unproven) await removeRecords(p, records)
    return outcome
  } catch (err) {
    if (!isS3dbError(err, 'CommitIndeterminate') && !sent.unproven) await removeRecords(p, records)
    throw err
  }
}

async function removeRecords(p: Publisher, keys: string[]): Promise<void> {
  if (keys.length > 0) await p.store.deleteMany(keys).catch(() => {})
}

async function publish(
  p: Publisher,
  req: PublishRequest,
  records: string[],
  sent: { unproven: boolean },
): Promise<PublishOutcome> {
  if (req.signal?.aborted) throw new AbortedError('aborted before publishing; nothing was written')
  const { own, signal } = req
  let base = req.base
  const carried = req.carried ?? []
  // The version to send over `b`: its folded history, carried record and commit time.
  const over = (b: Manifest | undefined, m: Manifest) =>
    stamped(b ? withCarriedRecord(b, withFoldedHistory(b, m), carried) : m, own, b, p.runtime)
  let next = over(base?.manifest, req.next)
  if (req.follow && base) {
    const followed = await follow(p, req.follow, next, own, base)
    if (followed) return followed
  }
  let conflicts = 0
  let sends = 0
  // Set once any send may have applied; cleared only by a proof. An offer may
  // be published by another writer at any time: it is never "not applied"
  // without a proof either.
  let ambiguous = own.offer !== undefined
  // The fold record of the snapshot switch being published (see recordFold).
  let recorded: string | undefined
  for (;;) {
    if (p.runtime.monotonic() - own.uploadedAt >= PUBLISH_WINDOW_MS) {
      // Too old to publish: GC may treat the object as an orphan.
      if (!ambiguous) return { committed: false, reason: 'expired' }
      return settleAmbiguous(p, next, own, base, 'expired')
    }
    if (signal?.aborted) {
      if (!ambiguous)
        throw new AbortedError('aborted before the write was published; nothing was written')
      return settleAmbiguous(p, next, own, base, 'aborted')
    }
    // Written before the CAS that makes it needed; nothing of ours can have
    // applied here (first send, or just proven lost), so a failure is exact.
    if (base && !ambiguous) recorded = await recordFold(p, base.manifest, next, recorded, records)
    let sendError: unknown
    const sentAt = p.runtime.monotonic()
    try {
      const { etag } = await p.store.put(p.keys.manifest, serializeManifest(next), {
        ...(base ? { ifMatch: base.etag } : { ifNoneMatch: true as const }),
        contentType: 'application/json',
      })
      const written = { manifest: next, etag }
      p.wrote(written)
      return {
        committed: true,
        seq: next.seq,
        current: written,
        sendMs: p.runtime.monotonic() - sentAt,
      }
    } catch (err) {
      sendError = err
    }
    sends++
    const lostRace = isS3dbError(sendError, 'PreconditionFailed')
    if (!lostRace && provesNotApplied(sendError)) {
      // Refused or never sent: try the same CAS again if waiting may help.
      if (!isTransient(sendError) || sends >= SEND_ATTEMPTS) {
        if (!ambiguous) throw sendError
        return settleAmbiguous(p, next, own, base, 'failing', sendError)
      }
      await p.runtime.sleep(backoffDelay(sends, 50, 2000, p.runtime.random))
      continue
    }
    if (!lostRace) {
      ambiguous = true
      sent.unproven = true
    }
    const decided = await decide(p, next, own, base, ambiguous, sendError)
    if (decided.kind === 'committed')
      return { committed: true, seq: decided.seq, current: decided.current }
    if (decided.kind === 'unchanged') {
      // Our CAS did not apply (yet): sending it again is safe, only one can apply.
      await p.runtime.sleep(backoffDelay(sends, 20, 1000, p.runtime.random))
      continue
    }
    // Another writer won, and we did not land: no copy of our PUT can apply now.
    ambiguous = false
    const current = decided.current
    const rebuilt = req.rebase?.(current.manifest)
    if (!rebuilt || ++conflicts > (req.maxConflicts ?? 10))
      return { committed: false, reason: 'conflict', current, lateCopies: sent.unproven }
    base = current
    next = over(current.manifest, rebuilt)
    await p.runtime.sleep(backoffDelay(conflicts, 10, 500, p.runtime.random))
  }
}

/**
 * Waits for another writer's CAS that may carry our object (see
 * {@link PublishRequest.follow}). Undefined when the manifest did not move
 * (or could not be read): then we send our own CAS.
 */
async function follow(
  p: Publisher,
  f: Follow,
  next: Manifest,
  own: PublishedObject,
  base: ManifestVersion,
): Promise<PublishOutcome | undefined> {
  const start = p.runtime.monotonic()
  const deadline = start + f.waitMs
  let every = f.everyMs
  for (let first = true; p.runtime.monotonic() < deadline; first = false) {
    if (!first && p.runtime.monotonic() - start >= f.steadyMs) every *= 1.5
    await p.runtime.sleep(
      Math.min(first ? f.firstMs : every, Math.max(0, deadline - p.runtime.monotonic())),
    )
    let current: ManifestVersion
    const followedMs = p.runtime.monotonic() - start
    try {
      current = await p.read()
    } catch {
      return undefined
    }
    // Ours was never sent: only another writer can have published it.
    const verdict = judge(current, next, own, base, own.offer !== undefined)
    if (verdict === 'unknown') {
      throw indeterminate(unknownWhy(next, own), undefined)
    }
    if (verdict.kind === 'committed')
      return { committed: true, seq: verdict.seq, current: verdict.current, followedMs }
    if (verdict.kind === 'lost')
      return { committed: false, reason: 'conflict', current, followedMs }
  }
  return undefined
}

/**
 * `next` with the commit time of the object it publishes (a log entry, or a
 * snapshot that commits a new seq), read from the runtime's clock when the
 * version to send is made.
 */
function stamped(
  next: Manifest,
  own: PublishedObject,
  base: Manifest | undefined,
  runtime: Runtime,
): Manifest {
  const time = Math.max(1, Math.round(runtime.now()))
  const last = next.log.at(-1)
  if (last?.key === own.key) return { ...next, log: [...next.log.slice(0, -1), { ...last, time }] }
  if (
    next.snapshot.key === own.key &&
    next.snapshot.seq === next.seq &&
    (base === undefined || next.seq > base.seq)
  )
    return { ...next, snapshot: { ...next.snapshot, time } }
  return next
}

/**
 * Writes the fold record of a snapshot switch (format/history.ts) before the
 * CAS that publishes it: once the new manifest lands, the old log order is gone
 * from it. A record is a fact about committed history whether or not the CAS
 * wins (its entries come from a manifest read from the store); GC removes those
 * of switches that never landed. Returns the content written, so a rebase over
 * a manifest that only grew its log does not write the same record again.
 */
async function recordFold(
  p: Publisher,
  base: Manifest,
  next: Manifest,
  written: string | undefined,
  keys: string[],
): Promise<string | undefined> {
  const record = foldRecordOf(base, next)
  if (!record) return written
  const bytes = serializeFoldRecord(p.keys, record)
  const text = Buffer.from(bytes).toString('utf8')
  if (text === written) return written
  // A fresh unique key, written unconditionally so that transient failures are retried.
  const key = foldRecordKey(p.keys, next.snapshot.key, p.runtime.newId())
  keys.push(key)
  try {
    await p.store.put(key, bytes, { contentType: 'application/json' })
  } catch (err) {
    // Whatever happened to the record, the manifest was not sent: say so
    // (a "may have applied" about the record must not read as one about the write).
    if (!(err instanceof StoreUnavailableError) || !err.maybeApplied) throw err
    throw new StoreUnavailableError(
      `the history record ${key} could not be written, so the manifest was not sent: nothing was published (${err.message})`,
      { maybeApplied: false, retryable: err.retryable, cause: err },
    )
  }
  return text
}

type Decision =
  | { kind: 'committed'; seq: number; current: ManifestVersion }
  | { kind: 'unchanged' }
  | { kind: 'lost'; current: ManifestVersion }

/**
 * Reads the manifest to learn what our send did. Throws CommitIndeterminate
 * when the answer is gone (ambiguous publishes), or the read's own error when
 * nothing of ours can have applied.
 */
async function decide(
  p: Publisher,
  next: Manifest,
  own: PublishedObject,
  base: ManifestVersion | undefined,
  ambiguous: boolean,
  sendError: unknown,
): Promise<Decision> {
  let lastError: unknown = sendError
  for (let attempt = 0; attempt < DECIDE_ATTEMPTS; attempt++) {
    let current: ManifestVersion
    try {
      current = await p.read()
    } catch (err) {
      lastError = err
      if (isS3dbError(err, 'NotFound') && !base) {
        // A create refused because a manifest existed, and now there is none:
        // the database was deleted meanwhile, maybe with our upload. Start over.
        if (!ambiguous)
          throw new AlreadyExistsError(
            'another client created the database and it was deleted while this one was creating it; nothing was written',
          )
        return { kind: 'unchanged' }
      }
      // Only a failing store is worth waiting for (access denied or a corrupt manifest is not).
      if (!isTransient(err)) break
      await p.runtime.sleep(backoffDelay(attempt, 100, 5000, p.runtime.random))
      continue
    }
    const verdict = judge(current, next, own, base, ambiguous)
    if (verdict !== 'unknown') return verdict
    throw indeterminate(unknownWhy(next, own), sendError)
  }
  if (!ambiguous) throw lastError
  throw indeterminate('the store failed while the outcome was being read', lastError)
}

/** What `current` proves about our publish of `next`. */
function judge(
  current: ManifestVersion,
  next: Manifest,
  own: PublishedObject,
  base: ManifestVersion | undefined,
  ambiguous: boolean,
): Decision | 'unknown' {
  const m = current.manifest
  const atOurSeq = keyAtSeq(m, next.seq)
  if (atOurSeq === own.key) return { kind: 'committed', seq: next.seq, current }
  // A compaction rebased over us keeps our seq; a snapshot switch also proves it
  // when it lists our key anywhere (it can only have come from our manifest).
  if (seqOfKey(m, own.key) !== undefined) return { kind: 'committed', seq: next.seq, current }
  // Our offer, carried in another writer's commit.
  const carriedSeq = own.offer === undefined ? undefined : carriedAt(m, own.offer)
  if (carriedSeq !== undefined) return { kind: 'committed', seq: carriedSeq, current }
  if (base ? current.etag === base.etag : false) return { kind: 'unchanged' }
  // Only the one commit over the base can have carried our offer: its absence
  // is proven by that commit's record (a commit that keeps seq carries none).
  if (own.offer !== undefined && base && m.seq > base.manifest.seq) {
    if (!recordsCarried(m, base.manifest.seq + 1)) return 'unknown'
  }
  if (!ambiguous || atOurSeq !== undefined || m.seq < next.seq) return { kind: 'lost', current }
  return 'unknown'
}

/** One last read for a publish that must stop while a send may still apply. */
async function settleAmbiguous(
  p: Publisher,
  next: Manifest,
  own: PublishedObject,
  base: ManifestVersion | undefined,
  why: 'aborted' | 'expired' | 'failing',
  cause?: unknown,
): Promise<PublishOutcome> {
  const decided = await decide(p, next, own, base, true, cause)
  if (decided.kind === 'committed')
    return { committed: true, seq: decided.seq, current: decided.current }
  if (decided.kind === 'lost') {
    if (why === 'aborted')
      throw new AbortedError('aborted; the write was not published (checked with the store)')
    return { committed: false, reason: 'conflict', current: decided.current }
  }
  const reason = {
    aborted: 'it was aborted',
    expired: 'its upload grew older than the publish window',
    failing: 'the store kept failing',
  }[why]
  throw indeterminate(`${reason} while a CAS of it may still land`, cause)
}

/** The seq at which `m`'s history (log, snapshot, folded keys) records `key`, if it does. */
function seqOfKey(m: Manifest, key: string): number | undefined {
  const entry = m.log.find((e) => e.key === key)
  if (entry) return entry.seq
  if (m.snapshot.key === key) return m.snapshot.seq
  const folded = m.snapshot.folded
  const i = folded ? folded.keys.indexOf(key) : -1
  return folded && i >= 0 ? folded.firstSeq + i : undefined
}

/** Why a manifest read cannot tell whether our publish landed. */
function unknownWhy(next: Manifest, own: PublishedObject): string {
  return own.offer !== undefined
    ? 'the record of what the commit after its base carried is gone (a writer that keeps no such records, such as the Go client, wrote the manifest in between, or more commits followed than the manifest records)'
    : `seq ${next.seq} has since been folded into a snapshot that does not record who committed it`
}

function indeterminate(why: string, cause: unknown): CommitIndeterminateError {
  return new CommitIndeterminateError(
    `cannot tell whether the write committed: its outcome was lost in transit and ${why}; check the data before retrying`,
    { cause },
  )
}
