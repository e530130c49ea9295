/**
 * The write path: run callbacks in a local transaction with change capture,
 * publish the changeset (or a snapshot for DDL), CAS the manifest, and on a lost
 * race re-run on the newer state (serializable) or rebase (snapshot isolation).
 *
 * Concurrent `update` calls in one process are group-committed: callbacks queued
 * while a commit is in flight run together next, each in its own savepoint, and
 * are published as one changeset with one CAS. Under contention, commits of
 * other processes made on the same manifest travel in it too (co-commit.ts).
 *
 * @module
 */
import { AsyncLocalStorage } from 'node:async_hooks'
import { stat, unlink } from 'node:fs/promises'
import { applyChangeset, type Changeset } from './changeset/index.js'
import {
  baseTag,
  decodeOffer,
  isWaitingUpload,
  keyInlineBytes,
  MAX_OFFER_AGE_MS,
  MAX_OFFER_BYTES,
  MAX_OFFER_ID,
  MAX_OFFERS,
  NO_ROWS_HASH,
  offeredAt,
  offerId,
  PlainTables,
  recentPrefixes,
  rowKeys,
  rowsHash,
  rowsHashOf,
  tagOf,
} from './co-commit.js'
import { type EngineContext, measure, type RemoteState } from './context.js'
import {
  AbortedError,
  CommitIndeterminateError,
  isS3dbError,
  S3dbError,
  StoreUnavailableError,
  throwIfAborted,
  WriteConflictError,
} from './errors.js'
import { FairShare } from './fair-share.js'
import {
  assertDeferredForeignKeys,
  assertForeignKeysAfterEnforcementOff,
  hasDeferredForeignKeys,
} from './foreign-keys.js'
import {
  appendLog,
  epochOf,
  keyAtSeq,
  MAX_CARRIED_KEYS,
  type Manifest,
  nextSeq,
} from './format/manifest.js'
import { PUBLISH_WINDOW_MS } from './format/protocol.js'
import { compatAfter, type Migration } from './migrate.js'
import { PointWrites } from './point-writes.js'
import { provesNotApplied, publishManifest } from './publish.js'
import { uploadSnapshot } from './snapshot-upload.js'
import { vacuumInto } from './sqlite-file.js'
import { MAX_KEY_BYTES } from './store/keys.js'
import { contextPublisher, fetchChangesets, refreshManifest, syncReplica } from './sync.js'
import { ConnectionTx, type Tx } from './tx.js'
import { backoffDelay } from './util/backoff.js'

/** Transaction isolation for `update`. */
export type Isolation = 'serializable' | 'snapshot'

/** Per-call options of a write. */
export interface WriteOptions {
  signal?: AbortSignal | undefined
  /**
   * Internal (migrations): picks, from the manifest the commit runs against,
   * the migration it applies. Its `up()` runs instead of the callback and its
   * version is recorded (a snapshot commit); undefined: that manifest's schema
   * is current and the commit changes nothing. Deciding from the base, not
   * from the newest manifest known, keeps the recorded version and the
   * migrations actually run on one state.
   */
  migration?: ((base: Manifest) => Migration | undefined) | undefined
  /** Run with foreign key enforcement off, checking `PRAGMA foreign_key_check` before commit. */
  foreignKeysOff?: boolean | undefined
}

/** What gathering offers produced (co-commit.ts). */
interface Gathered {
  /** Our changes and the offers `carried`, as one changeset uploaded under `key`. */
  merged?: { key: string; bytes: Uint8Array; at: number; carried: string[] } | undefined
  /** An earlier offer on the base leads: watch for its commit before sending ours. */
  follow: boolean
}

/** A changeset uploaded for a commit attempt. */
interface Uploaded {
  key: string
  epoch: string
  /** For an upload made while contended: the base it names (co-commit.ts). */
  tag?: string | undefined
  /** Whether other processes may publish it (an offer). */
  offered: boolean
  bytes: Uint8Array
  /** When the upload started ({@link Runtime.monotonic}). */
  at: number
  /** A CAS naming it may still land late (publish.ts, `lateCopies`): never delete it. */
  pinned?: boolean
}

interface Request {
  fn: (tx: Tx) => unknown
  options: WriteOptions
  resolve(value: unknown): void
  reject(err: unknown): void
  settled: boolean
  value?: unknown
  /** Set when the callback threw in the latest run; final once its base is known committed. */
  error?: unknown
  /** Detaches the abort listener. */
  dispose?: () => void
}

/**
 * What running a batch locally produced (its local transaction still open). A
 * schema change is published as a snapshot, made from the replica file itself
 * once the transaction is committed locally (see #publishSnapshot).
 */
type Executed =
  | { kind: 'noop' }
  | {
      kind: 'changeset'
      bytes: Uint8Array
      /** Every statement was a point write (point-writes.ts): the commit may be offered. */
      pointWrites: boolean
      /** Change capture holds these changes (a leader merges offers into them). */
      captured: boolean
    }
  | { kind: 'snapshot'; schema?: { version: number; compatVersion: number } | undefined }

/** How publishing one attempt ended (bytes: the size of what was published). */
type Published =
  | { committed: true; seq: number; bytes: number }
  | { committed: false; reason: 'conflict' | 'expired' }

/** Uploads that outlasted the publish window before a commit gives up. */
const MAX_EXPIRED = 3

/** How many uncontended commits it takes to go back to optimistic commits. */
const MAX_CONTENTION = 8

/** Entries the first listing of a gathering asks for: enough to tell who leads. */
const FIRST_LOOK = 2

/**
 * A leading offer lists the offers on its base at once and then every round
 * trip, until as many as in the latest round are there, for at most this many
 * round trips...
 */
const GATHER_MAX_RTTS = 4
/**
 * ...and the others watch the manifest for its commit (its fetch, the upload of
 * the merged changeset, its CAS): first after this many round trips, then every
 * round trip until FOLLOW_STEADY_RTTS, then less and less often, for at most
 * FOLLOW_WAIT_RTTS (and FOLLOW_WAIT_MIN_MS). A follower that stops waiting
 * sends its own CAS over the leader's base, which ends the leader's round:
 * with many processes on few cores a leader's round takes many round trips
 * of CPU time (64 processes on 2 cores: over a second), so patience is cheap
 * and impatience costs the round.
 */
const FOLLOW_FIRST_RTTS = 2
/**
 * The first read is timed by the follows before: at the smoothed time their
 * deciding read was sent, less this many round trips (so that about one follow
 * in four or five reads once too early, and the timing keeps tracking the
 * leader's pace), never before FOLLOW_FIRST_RTTS. A read sent too early costs a
 * request; one sent late costs its process the start of the next round.
 */
const FOLLOW_LEAD_RTTS = 0.25
const FOLLOW_STEADY_RTTS = 8
const FOLLOW_WAIT_RTTS = 40
const FOLLOW_WAIT_MIN_MS = 1000

/** Largest round trip co-commit waits are measured in (see #waitRtt). */
const MAX_WAIT_RTT_MS = 250

/** Sends of an offer's upload before CommitIndeterminate (once it may exist). */
const OFFER_UPLOAD_ATTEMPTS = 8

/** Commits of other processes within this long make a writer "contended" (co-commit.ts). */
const CONTENDED_WINDOW_MS = 5000

/** Marks callbacks running inside a transaction: of which database, and which kind. */
export const insideTransaction = new AsyncLocalStorage<{ db: object; mode: 'update' | 'view' }>()

export interface WriteQueueSettings {
  isolation: Isolation
  /** Most callbacks published in one commit. */
  maxBatch: number
  /**
   * A write that changes nothing confirms its base with the store unless the
   * replica was confirmed current this recently (ms; 0 = always, 'strong').
   */
  maxStalenessMs: number
  /** Throws if this app may not write to the database at `manifest` (schema too new). */
  checkWritable(manifest: Manifest): void
  /** Called after each commit (auto-compaction). */
  afterCommit(manifest: Manifest): void
}

export class WriteQueue {
  readonly #ctx: EngineContext
  readonly #settings: WriteQueueSettings
  readonly #owner: object
  readonly #queue: Request[] = []
  /** The running drain loop, if any. */
  #draining: Promise<void> | undefined
  /** Recent lost races; while above 0, commits start with a fresh manifest. */
  #contention = 0
  readonly #fairShare: FairShare
  /** Offers on one base in the latest co-commit round we saw (ours included). */
  #expectedOffers = 2
  /** Smoothed time from a follow's start to the read that saw the leader's commit. */
  #followedMs = 0

  constructor(ctx: EngineContext, settings: WriteQueueSettings, owner: object) {
    this.#ctx = ctx
    this.#settings = settings
    this.#owner = owner
    this.#fairShare = new FairShare({
      now: () => ctx.runtime.monotonic(),
      random: () => ctx.runtime.random(),
    })
  }

  /** Queues `fn`; resolves with its value once its commit is durable in the store. */
  submit<T>(fn: (tx: Tx) => T | Promise<T>, options: WriteOptions): Promise<T> {
    throwIfAborted(options.signal)
    return new Promise<T>((resolve, reject) => {
      const request: Request = {
        fn,
        options,
        resolve: resolve as (v: unknown) => void,
        reject,
        settled: false,
      }
      const signal = options.signal
      if (signal) {
        // Still queued when the signal fires: it leaves the queue, nothing ran.
        const onAbort = () => {
          const i = this.#queue.indexOf(request)
          if (i >= 0) {
            this.#queue.splice(i, 1)
            fail(request, new AbortedError('aborted while queued; nothing was written'))
          }
        }
        signal.addEventListener('abort', onAbort, { once: true })
        request.dispose = () => signal.removeEventListener('abort', onAbort)
      }
      this.#queue.push(request)
      this.#draining ??= this.#drain()
    })
  }

  /** Resolves once every queued write has settled. */
  async idle(): Promise<void> {
    await this.#draining
  }

  async #drain(): Promise<void> {
    try {
      while (this.#queue.length > 0) {
        const wait = this.#fairShare.beforeCommit()
        // Writes that arrive meanwhile join the batch.
        if (wait > 0) await this.#ctx.runtime.sleep(wait)
        if (this.#queue.length === 0) break
        const batch = this.#takeBatch()
        await this.#ctx.writerLock.run(() => this.#commit(batch))
      }
    } finally {
      this.#draining = undefined
    }
  }

  /** Plain writes batch together; a write with special options runs alone. */
  #takeBatch(): Request[] {
    const first = this.#queue[0]!
    if (isSpecial(first.options)) return this.#queue.splice(0, 1)
    let n = 1
    while (
      n < this.#queue.length &&
      n < this.#settings.maxBatch &&
      !isSpecial(this.#queue[n]!.options)
    )
      n++
    return this.#queue.splice(0, n)
  }

  /**
   * Commits one batch. States of the loop: sync the replica to a known manifest
   * (`base`); run the live callbacks on it in one local transaction; then
   * - nothing changed: confirm `base` is current (strict serializability) and
   *   settle, or re-run on the newer state;
   * - changes: upload them (or reuse an identical upload), publish with one
   *   CAS through the publishing path, and on a lost race re-run (or rebase).
   * A callback's error and an abort are final only once they are known to
   * stem from committed state: the CAS won, or the base was confirmed.
   */
  async #commit(batch: Request[]): Promise<void> {
    const ctx = this.#ctx
    const writer = () => ctx.replica.writer
    const options = batch[0]!.options
    const signal = batch.length === 1 ? options.signal : undefined
    const done = measure(ctx)
    let uploaded: Uploaded | undefined
    let expired = 0
    let rebased: Uint8Array | undefined
    // Whether the store confirmed the base current after every member was submitted.
    let verified = false
    try {
      if (
        this.#contention > 0 &&
        ctx.runtime.monotonic() - ctx.remote.confirmedAt > this.#fairShare.rttMs / 2
      ) {
        // Other writers won recently: a commit from the cached manifest would
        // likely lose (2 wasted round trips), so look first (1 conditional GET),
        // unless the store confirmed it a moment ago.
        await refreshManifest(ctx, signal)
        verified = true
      }
      // The state the replica holds: what the callbacks run on and the CAS is against.
      let base = await syncReplica(ctx, signal)
      for (let attempt = 1; ; ) {
        this.#settings.checkWritable(base.manifest)
        // A rebased changeset was applied with capture paused: change capture
        // does not hold our changes then, so it may not merge offers into them.
        const executed: Executed = rebased
          ? { kind: 'changeset', bytes: rebased, pointWrites: false, captured: false }
          : await this.#execute(batch, options, base.manifest)
        rebased = undefined
        // Aborted before publishing: those members leave, the rest run again without them.
        const aborted = batch.filter((r) => !r.settled && r.options.signal?.aborted)
        if (aborted.length > 0) {
          for (const r of aborted)
            fail(r, new AbortedError('aborted before publishing; nothing was written'))
          if (writer().inTransaction) writer().exec('ROLLBACK')
          if (batch.every((r) => r.settled)) return
          continue
        }
        if (executed.kind === 'noop') {
          if (!verified && !this.#fresh()) {
            verified = true
            if (await refreshManifest(ctx, signal)) {
              // The base moved: what the callbacks saw (and their errors) may be stale.
              writer().exec('ROLLBACK')
              base = await syncReplica(ctx, signal)
              continue
            }
          }
          if (writer().inTransaction) ctx.replica.commitInPlace()
          settleAll(batch)
          return
        }
        const seq = nextSeq(base.manifest)
        const publishStart = ctx.runtime.monotonic()
        let published: Published
        // How long our winning CAS took (a round trip), and how co-commit went.
        let casMs: number | undefined
        let coCommit: 'won' | 'carried' | undefined
        if (executed.kind === 'snapshot') {
          published = await this.#publishSnapshot(base, seq, executed.schema, signal)
        } else {
          const epoch = epochOf(base.manifest.snapshot.key)
          // Contended: uploads name their base, and point writes are offered (co-commit.ts).
          const contended = this.#contended()
          const tag = contended ? baseTag(base.manifest) : undefined
          // Another process could carry it (co-commit.ts); it is offered when contended.
          const offerable = this.#settings.isolation === 'snapshot' || executed.pointWrites
          const offer = contended && offerable
          // Re-use the previous attempt's upload when its bytes are unchanged and it
          // is young enough to publish (while contended: made on this base, as an
          // offer if this one is). An offer made on an older base can no longer be
          // published by anyone else: its base is gone.
          const reusable = (u: Uploaded | undefined): u is Uploaded =>
            u !== undefined &&
            u.epoch === epoch &&
            ctx.runtime.monotonic() - u.at < PUBLISH_WINDOW_MS / 2 &&
            (!contended || (u.tag === tag && u.offered === offer)) &&
            Buffer.from(u.bytes).equals(Buffer.from(executed.bytes))
          // Alone for a while: look (in parallel with the upload, before the CAS)
          // for a process that keeps losing to us.
          const look =
            !contended && this.#fairShare.takeLook()
              ? this.#lookForWaiting(epoch, base.manifest, signal)
              : undefined
          if (!reusable(uploaded)) {
            // Every upload names its base: a plain one is how a process that
            // keeps losing to us shows (the look above, in another process).
            const id = offerId(
              base.manifest,
              offer ? 'o' : !contended && offerable ? 'p' : 'w',
              attempt,
              offer ? rowsHash(executed.bytes) : NO_ROWS_HASH,
              ctx.runtime.newId(),
              // Bytes in the key only where a long prefix leaves room for them.
              offer &&
                Buffer.byteLength(ctx.keys.changeset(epoch, '')) + MAX_OFFER_ID <= MAX_KEY_BYTES
                ? executed.bytes
                : undefined,
            )
            const key = ctx.keys.changeset(epoch, id)
            // The window counts from the upload's start: a store may date the object then.
            const at = ctx.runtime.monotonic()
            if (offer) await this.#uploadOffer(key, executed.bytes)
            else
              await ctx.store.put(key, executed.bytes, {
                signal,
                contentType: 'application/octet-stream',
              })
            uploaded = { key, epoch, tag, offered: offer, bytes: executed.bytes, at }
          }
          if (look && (await look)) {
            // A process keeps losing to us: our CAS would end the co-commit
            // round it is forming. Step aside, then join it (contended now).
            ctx.foreignSeenAt = ctx.runtime.monotonic()
            this.#fairShare.sawWaiting()
            writer().exec('ROLLBACK')
            // Ours alone to publish, and not sent: removed (unless an earlier
            // attempt's CAS of it may still land).
            const unpublished = uploaded
            uploaded = undefined
            if (!unpublished.pinned) await ctx.store.delete(unpublished.key).catch(() => {})
            await ctx.runtime.sleep(this.#fairShare.beforeCommit(), signal)
            base = await syncReplica(ctx, signal)
            continue
          }
          const own = uploaded
          // Others write too: carry the offers made on this base in our commit
          // (co-commit.ts), or follow the offer that leads.
          const gathered: Gathered =
            contended && own.offered && executed.captured
              ? await this.#gatherOffers(
                  epoch,
                  base.manifest,
                  executed.bytes,
                  own.key,
                  executed.pointWrites,
                )
              : { follow: false }
          const sent = gathered.merged ?? {
            key: own.key,
            bytes: executed.bytes,
            at: own.at,
            carried: [],
          }
          const rtt = this.#waitRtt()
          const next = appendLog(base.manifest, sent.key, sent.bytes)
          const outcome = await publishManifest(contextPublisher(ctx), {
            base,
            next,
            own: { key: sent.key, uploadedAt: sent.at, offer: own.offered ? own.key : undefined },
            carried: sent.carried,
            // An earlier offer leads: watch for its commit, which should carry ours.
            follow: gathered.follow
              ? {
                  firstMs: Math.min(
                    FOLLOW_STEADY_RTTS * rtt,
                    Math.max(FOLLOW_FIRST_RTTS * rtt, this.#followedMs - FOLLOW_LEAD_RTTS * rtt),
                  ),
                  everyMs: rtt,
                  steadyMs: FOLLOW_STEADY_RTTS * rtt,
                  waitMs: Math.max(FOLLOW_WAIT_MIN_MS, FOLLOW_WAIT_RTTS * rtt),
                }
              : undefined,
            // Another process may carry an offer any time: once made, its commit
            // runs to its outcome, like a CAS already sent.
            signal: own.offered ? undefined : signal,
          })
          if ('followedMs' in outcome && outcome.followedMs !== undefined) {
            const ms = outcome.followedMs
            this.#followedMs = this.#followedMs === 0 ? ms : 0.7 * this.#followedMs + 0.3 * ms
          }
          if (outcome.committed) {
            const asSent = keyAtSeq(outcome.current.manifest, next.seq) === sent.key
            // The round trip of the send alone: not a follow's wait or a decision's reads.
            casMs = asSent ? outcome.sendMs : undefined
            coCommit = contended ? (asSent ? 'won' : 'carried') : undefined
            if (asSent) {
              await this.#adoptCommitted(next.seq, sent.key)
              // Others' commits taken in: stay contended, and leave them room.
              if (sent.carried.length > 0) ctx.foreignSeenAt = ctx.runtime.monotonic()
            } else {
              // Another process carried our offer in its commit: the local
              // transaction is not the state at any seq; the next sync brings it.
              writer().exec('ROLLBACK')
            }
          } else if (outcome.reason === 'expired') uploaded = undefined
          else if (outcome.lateCopies && sent.key === own.key) own.pinned = true
          published = outcome.committed
            ? { committed: true, seq: outcome.seq, bytes: sent.bytes.byteLength }
            : outcome
        }
        if (published.committed) {
          this.#committed(batch, published.seq, executed.kind, published.bytes, attempt, done)
          this.#fairShare.committed(casMs, ctx.foreignSeenAt, coCommit)
          return
        }
        // A lost snapshot commit left the replica pending: the sync below rebuilds it.
        if (writer().inTransaction) writer().exec('ROLLBACK')
        if (published.reason === 'expired') {
          if (++expired >= MAX_EXPIRED) throw tooSlow(expired)
          base = await syncReplica(ctx, signal)
          continue
        }
        this.#contention = Math.min(MAX_CONTENTION, this.#contention + 2)
        verified = true
        if (attempt > ctx.settings.maxRetries) throw new WriteConflictError(attempt)
        const canRebase = this.#settings.isolation === 'snapshot' && executed.kind === 'changeset'
        const backoffMs = this.#fairShare.retryDelay(
          attempt,
          ctx.runtime.monotonic() - publishStart,
        )
        ctx.emit({
          type: 'conflict',
          attempt,
          resolution: canRebase ? 'rebase' : 'rerun',
          backoffMs,
          ...done(),
        })
        if (backoffMs > 0) {
          await ctx.runtime.sleep(backoffMs, signal)
          // The manifest read to decide the race is old now: look again (one conditional GET).
          await refreshManifest(ctx, signal)
        }
        base = await syncReplica(ctx, signal)
        if (canRebase) rebased = this.#rebase(executed.bytes)
        attempt++
      }
    } catch (err) {
      if (writer().inTransaction) {
        try {
          writer().exec('ROLLBACK')
        } catch {
          await ctx.replica.invalidate()
        }
      }
      // An upload no manifest can reference (only CommitIndeterminate leaves
      // that open) is removed at once: a refused write leaves the store as it was.
      if (uploaded && !uploaded.pinned && !isS3dbError(err, 'CommitIndeterminate'))
        await ctx.store.delete(uploaded.key).catch(() => {})
      for (const r of batch) if (!r.settled) fail(r, err)
    } finally {
      if (isSpecial(options) && !writer().inTransaction) writer().pragma('foreign_keys = ON')
    }
  }

  /** Settles a batch whose commit landed at `seq`, and reports it. */
  #committed(
    batch: Request[],
    seq: number,
    kind: 'changeset' | 'snapshot',
    bytes: number,
    attempt: number,
    done: ReturnType<typeof measure>,
  ): void {
    const transactions = batch.filter((r) => !r.settled && r.error === undefined).length
    settleAll(batch)
    this.#ctx.emit({ type: 'commit', seq, transactions, kind, bytes, attempts: attempt, ...done() })
    if (attempt === 1) this.#contention = Math.max(0, this.#contention - 1)
    this.#settings.afterCommit(this.#ctx.remote.manifest)
  }

  /**
   * Publishes the open local transaction (a schema change) as a snapshot, with
   * memory that does not grow with the database: the transaction is committed
   * to the replica file, which is copied with VACUUM INTO and uploaded as a
   * stream. Until the outcome is known the replica's position is pending (a
   * crash rebuilds it) and views are held off, so nobody reads the unpublished
   * state; if the publish does not land, the position stays unknown and the
   * next sync rebuilds the replica from the store.
   */
  async #publishSnapshot(
    base: RemoteState,
    seq: number,
    schema: { version: number; compatVersion: number } | undefined,
    signal: AbortSignal | undefined,
  ): Promise<Published> {
    const ctx = this.#ctx
    return ctx.readLock.exclusive(async () => {
      await ctx.replica.invalidate()
      ctx.replica.writer.exec('COMMIT')
      const file = await vacuumInto(ctx.replica.writer, ctx.replica.dir)
      try {
        const size = (await stat(file)).size
        const key = ctx.keys.snapshot(ctx.runtime.newId())
        const uploadedAt = ctx.runtime.monotonic()
        // Removed again unless it may be referenced (committed, or CommitIndeterminate).
        let orphan = true
        try {
          await uploadSnapshot(ctx.store, key, file, { signal, onProgress: ctx.emit })
          const outcome = await publishManifest(contextPublisher(ctx), {
            base,
            next: {
              ...base.manifest,
              seq,
              schemaVersion: schema?.version ?? base.manifest.schemaVersion,
              compatSchemaVersion: schema?.compatVersion ?? base.manifest.compatSchemaVersion,
              snapshot: { key, seq, size },
              log: [],
            },
            own: { key, uploadedAt },
            signal,
          })
          if (!outcome.committed) return outcome
          orphan = false
          await ctx.replica.advance({ seq: outcome.seq, head: key }, () => {})
          return { committed: true, seq: outcome.seq, bytes: size }
        } catch (err) {
          if (isS3dbError(err, 'CommitIndeterminate')) orphan = false
          throw err
        } finally {
          if (orphan) await ctx.store.delete(key).catch(() => {})
        }
      } finally {
        await unlink(file).catch(() => {})
      }
    })
  }

  /**
   * Uploads an offer. Once it may exist, another process may publish it, so a
   * failed upload that may have stored it is not "nothing written": it is
   * sent again (same key, same bytes) until it is known stored, and if the
   * store keeps failing the outcome is CommitIndeterminate. Not abortable.
   */
  async #uploadOffer(key: string, bytes: Uint8Array): Promise<void> {
    const ctx = this.#ctx
    for (let attempt = 1; ; attempt++) {
      try {
        const start = ctx.runtime.monotonic()
        await ctx.store.put(key, bytes, { contentType: 'application/octet-stream' })
        this.#fairShare.observeRtt(ctx.runtime.monotonic() - start)
        return
      } catch (err) {
        if (attempt === 1 && provesNotApplied(err)) throw err
        if (attempt >= OFFER_UPLOAD_ATTEMPTS) {
          throw new CommitIndeterminateError(
            'cannot tell whether the write committed: the upload of its changeset failed after it may have been stored, and another writer may publish it; check the data before retrying',
            { cause: err },
          )
        }
        await ctx.runtime.sleep(backoffDelay(attempt, 50, 2000, ctx.runtime.random))
      }
    }
  }

  /**
   * The round trip co-commit waits are measured in: the CAS time as measured,
   * within 1 to 250 ms (an overloaded process measures its own queueing, and
   * would then wait ever longer).
   */
  #waitRtt(): number {
    return Math.min(MAX_WAIT_RTT_MS, Math.max(1, this.#fairShare.rttMs))
  }

  /** Whether other processes write too: lost races, or their commits taken in lately. */
  #contended(): boolean {
    const ctx = this.#ctx
    return this.#contention > 0 || ctx.runtime.monotonic() - ctx.foreignSeenAt < CONTENDED_WINDOW_MS
  }

  /**
   * Lists uploads of other processes made on recent manifests: a process that
   * keeps losing races to us (one LIST). False on any failure.
   */
  async #lookForWaiting(
    epoch: string,
    manifest: Manifest,
    signal: AbortSignal | undefined,
  ): Promise<boolean> {
    const ctx = this.#ctx
    const found = await Promise.all(
      recentPrefixes(changesetKeyPrefix(ctx, epoch), manifest).map(async (prefix) => {
        try {
          for await (const e of ctx.store.list(prefix, { signal })) {
            if (isWaitingUpload(e.key, manifest, undefined)) return true
          }
        } catch {
          // Only a hint.
        }
        return false
      }),
    )
    return found.some(Boolean)
  }

  /**
   * How many offers were made on the manifest before `base`, plain uploads of
   * point writes included (one LIST), if known: processes that start at once
   * race plain CASes first, and offer on the next manifest.
   */
  async #offersOnPrevious(epoch: string, base: Manifest): Promise<number | undefined> {
    const head = keyAtSeq(base, base.seq - 1)
    if (head === undefined) return undefined
    const prefix = `${changesetKeyPrefix(this.#ctx, epoch)}${tagOf(base.seq - 1, head)}`
    let n = 0
    try {
      for await (const e of this.#ctx.store.list(prefix)) {
        const kind = e.key[prefix.length]
        if (kind === 'o' || kind === 'p') n++
      }
    } catch {
      return undefined
    }
    return n
  }

  /**
   * The offers made on a base (list prefix), other than ours: whether one was
   * made before ours (it leads), and those made after. Undefined when the
   * store cannot list. A `firstLook` reads one page of FIRST_LOOK entries: a
   * follower learns that it follows from the first, not from a page of every
   * process's offer (at 64 processes the pages' parsing was a large share of
   * each process's CPU); when ours is first, `refs` is then incomplete.
   */
  async #listOffers(
    prefix: string,
    ownKey: string,
    firstLook: boolean,
  ): Promise<
    | { earlier: boolean; complete: boolean; refs: { key: string; seq: number; size: number }[] }
    | undefined
  > {
    const ctx = this.#ctx
    const refs: { key: string; seq: number; size: number }[] = []
    const incomplete = { earlier: false, complete: false, refs }
    let seen = 0
    try {
      const now = ctx.runtime.now()
      for await (const e of ctx.store.list(prefix, firstLook ? { pageSize: FIRST_LOOK } : {})) {
        if (e.key === ownKey) {
          if (firstLook) return incomplete
          continue
        }
        const valid =
          e.size > 0 &&
          e.size <= MAX_OFFER_BYTES &&
          Math.abs(now - (offeredAt(e.key) ?? Number.NaN)) <= MAX_OFFER_AGE_MS
        // Keys list in order: the first valid one before ours decides.
        if (valid && e.key < ownKey) return { earlier: true, complete: false, refs: [] }
        if (valid && refs.length < MAX_OFFERS) refs.push({ key: e.key, seq: 0, size: e.size })
        // Stop before the listing asks for another page.
        if (firstLook && ++seen >= FIRST_LOOK) return incomplete
      }
    } catch {
      return undefined
    }
    return { earlier: false, complete: true, refs }
  }

  /**
   * Co-commit (co-commit.ts). The first offer made on a base leads: it lists
   * the offers made on the base (again every round trip, until as many as in
   * the latest round are there, for a few round trips), fetches them, and
   * applies to the open local transaction, after our own changes, each one
   * that touches no row touched before it and applies cleanly. The changes of
   * all of them are then one changeset, uploaded under a new key: `merged`,
   * with the offers it carries. A later offer follows (`follow`). Failures of
   * the store only leave offers out.
   */
  async #gatherOffers(
    epoch: string,
    base: Manifest,
    own: Uint8Array,
    ownKey: string,
    ownPointWrites: boolean,
  ): Promise<Gathered> {
    const ctx = this.#ctx
    const prefix = `${changesetKeyPrefix(ctx, epoch)}${baseTag(base)}o`
    if (!ownKey.startsWith(prefix)) return { follow: false }
    const rtt = this.#waitRtt()
    const deadline = ctx.runtime.monotonic() + GATHER_MAX_RTTS * rtt
    let refs: { key: string; seq: number; size: number }[] = []
    let previous: Promise<number | undefined> | undefined
    // Offers are fetched as soon as they are listed, while we wait for more.
    const fetching = new Map<string, Promise<Uint8Array | undefined>>()
    const fetch = (r: { key: string; seq: number; size: number }) => {
      let f = fetching.get(r.key)
      if (f === undefined) {
        // A small offer's bytes are in its key.
        const inline = keyInlineBytes(r.key, r.size)
        f = inline
          ? Promise.resolve(inline)
          : fetchChangesets(ctx.store, [r], 1).then(
              ([b]) => b,
              () => undefined,
            )
        fetching.set(r.key, f)
      }
      return f
    }
    for (let round = 0; ; round++) {
      const listed = await this.#listOffers(prefix, ownKey, round === 0)
      if (listed === undefined) return { follow: false }
      if (listed.earlier) return { follow: true }
      // Offers on exactly our rows cannot travel with ours: not worth fetching.
      const ownRows = rowsHashOf(ownKey)
      refs = listed.refs.filter((r) => rowsHashOf(r.key) !== ownRows)
      if (listed.complete && listed.refs.length > 0 && refs.length === 0) break
      for (const r of refs) void fetch(r)
      // Everyone who offered on the previous base, late ones included, is
      // likely to offer on this one: wait for them (a late process stays late
      // otherwise: it learns of each commit last).
      if (previous) {
        const before = await previous
        if (before !== undefined) this.#expectedOffers = Math.max(this.#expectedOffers, before)
      }
      // As many offers as we expect, or waited long enough.
      const enough = refs.length + 1 >= this.#expectedOffers
      const late = ctx.runtime.monotonic() >= deadline
      if (listed.complete && ((enough && round > 0) || late)) break
      previous = round === 0 ? this.#offersOnPrevious(epoch, base) : undefined
      if (!late) await ctx.runtime.sleep(rtt)
    }
    // The most offers seen lately, forgotten one per round: a process that was
    // late once is waited for next time.
    this.#expectedOffers = Math.max(refs.length + 1, this.#expectedOffers - 1)
    if (refs.length === 0) return { follow: false }
    const fetched = await Promise.all(refs.map(fetch))
    const writer = ctx.replica.writer
    const ownChanges = decodeOffer(own)
    if (!ownChanges || !writer.inTransaction) return { follow: false }
    const touched = new Set(rowKeys(ownChanges))
    const carried: string[] = []
    const plain = new PlainTables(writer)
    writer.exec('SAVEPOINT s3db_offers')
    const undo = () => {
      writer.exec('ROLLBACK TO s3db_offers')
      writer.exec('RELEASE s3db_offers')
    }
    for (let i = 0; i < refs.length && carried.length < MAX_CARRIED_KEYS; i++) {
      const bytes = fetched[i]
      if (!bytes) continue
      const cs: Changeset | undefined = decodeOffer(bytes)
      if (!cs) continue
      const rows = rowKeys(cs)
      if (rows.length === 0 || rows.some((k) => touched.has(k))) continue
      // An INSERT may have chosen its rowid from the table's largest: serial
      // only before every other transaction of the commit, which holds when all
      // of them are point writes, not after a leader that read more.
      if (!ownPointWrites && cs.tables.some((t) => t.changes.some((c) => c.op === 'INSERT')))
        continue
      try {
        if (!plain.all(cs)) continue
        // Captured: our changeset becomes the changes of all of them.
        applyChangeset(writer, cs)
      } catch (err) {
        if (isS3dbError(err, 'ApplyConflict') || isS3dbError(err, 'Corrupt')) continue
        // Anything else (the local file): publish our own alone.
        break
      }
      for (const k of rows) touched.add(k)
      carried.push(refs[i]!.key)
    }
    if (carried.length === 0) {
      undo()
      return { follow: false }
    }
    const bytes = ctx.replica.capture.changeset()
    if (!bytes) {
      undo()
      return { follow: false }
    }
    const key = ctx.keys.changeset(epoch, ctx.runtime.newId())
    const at = ctx.runtime.monotonic()
    try {
      await ctx.store.put(key, bytes, { contentType: 'application/octet-stream' })
    } catch {
      // Unpublished (and unreferenced: GC removes it if it was stored): publish our own.
      undo()
      return { follow: false }
    }
    writer.exec('RELEASE s3db_offers')
    return { merged: { key, bytes, at, carried }, follow: false }
  }

  /** Whether the replica's base is recent enough to skip confirming it. */
  #fresh(): boolean {
    const ms = this.#settings.maxStalenessMs
    return ms > 0 && this.#ctx.runtime.monotonic() - this.#ctx.remote.confirmedAt <= ms
  }

  /**
   * The commit is in the store: make the local transaction the replica's state
   * at `seq`. A local failure now (disk full) cannot undo the commit: the
   * replica is then marked for rebuild, and the write still succeeds.
   */
  async #adoptCommitted(seq: number, key: string): Promise<void> {
    const ctx = this.#ctx
    const writer = ctx.replica.writer
    try {
      await ctx.replica.advance({ seq, head: key }, () => writer.exec('COMMIT'))
    } catch (err) {
      if (writer.inTransaction) {
        try {
          writer.exec('ROLLBACK')
        } catch {
          // The replica is rebuilt either way.
        }
      }
      await ctx.replica.invalidate().catch(() => {})
      ctx.emit({
        type: 'error',
        operation: 'local-commit',
        error: new S3dbError(
          'LocalReplicaFailed',
          `the write committed to the store, but the local replica could not record it (${(err as Error).message}); it will be rebuilt from the store`,
          { cause: err },
        ),
      })
    }
  }

  /**
   * Snapshot isolation: applies our changeset on the newer state with strict
   * conflict checks. Clean -> the same changeset is valid there and is published
   * again (local transaction left open). Conflict -> undefined: re-run instead.
   */
  #rebase(bytes: Uint8Array): Uint8Array | undefined {
    const writer = this.#ctx.replica.writer
    writer.exec('BEGIN IMMEDIATE')
    try {
      applyChangeset(writer, bytes, { capture: this.#ctx.replica.capture })
      return bytes
    } catch (err) {
      writer.exec('ROLLBACK')
      if (isS3dbError(err, 'ApplyConflict')) return undefined
      throw err
    }
  }

  /** Runs the live callbacks in one local transaction, each in a savepoint. */
  async #execute(batch: Request[], options: WriteOptions, base: Manifest): Promise<Executed> {
    const ctx = this.#ctx
    const writer = ctx.replica.writer
    const capture = ctx.replica.capture
    const migration = options.migration?.(base)
    const foreignKeysOff = options.foreignKeysOff || migration?.foreignKeys === false
    if (foreignKeysOff) writer.pragma('foreign_keys = OFF')
    const schemaBefore = writer.pragma('schema_version', { simple: true }) as number
    capture.syncSchema()
    writer.exec('BEGIN IMMEDIATE')
    capture.reset()
    const pointWrites = new PointWrites(writer)
    let deferredFks: boolean | undefined
    for (const r of batch) {
      if (r.settled) continue
      if (r.options.signal?.aborted) {
        // Aborted before it ran: it leaves the batch, nothing of it was written.
        fail(r, new AbortedError('aborted before it ran; nothing was written'))
        continue
      }
      r.error = undefined
      writer.exec('SAVEPOINT s3db_update')
      const tx = new ConnectionTx(
        writer,
        false,
        {
          afterWrite: () => capture.syncSchema(),
          // Its writes bypass capture, which makes this commit a snapshot.
          alterTable: (run) => capture.withoutTriggers(run),
          statement: (sql, params, changes) => pointWrites.note(sql, params, changes),
        },
        { safeIntegers: ctx.settings.safeIntegers },
      )
      try {
        const run = options.migration ? () => migration?.up(tx) : () => r.fn(tx)
        r.value = await insideTransaction.run({ db: this.#owner, mode: 'update' }, run)
        assertStillInTransaction(writer)
        // SQLite checks deferred foreign keys at COMMIT, after publishing: check them now.
        deferredFks ??= hasDeferredForeignKeys(writer)
        if (deferredFks || writer.pragma('defer_foreign_keys', { simple: true }))
          assertDeferredForeignKeys(writer, capture)
        writer.exec('RELEASE s3db_update')
      } catch (err) {
        if (!writer.inTransaction) {
          // The callback ended s3db's transaction itself: the replica no longer
          // matches any known position.
          await ctx.replica.invalidate()
          throw err
        }
        writer.exec('ROLLBACK TO s3db_update')
        writer.exec('RELEASE s3db_update')
        // Tables the callback created are gone again: let capture forget them.
        capture.syncSchema()
        r.error = err
      } finally {
        tx.end()
      }
    }
    if (foreignKeysOff) assertForeignKeysAfterEnforcementOff(writer)
    const schemaChanged =
      (writer.pragma('schema_version', { simple: true }) as number) !== schemaBefore
    // Nothing of a failed callback survives its savepoint: a batch in which
    // every callback failed has nothing to publish (not even a snapshot).
    if (!batch.some((r) => !r.settled && r.error === undefined)) return { kind: 'noop' }
    const schema = migration && {
      version: migration.version,
      compatVersion: compatAfter(migration, base),
    }
    if (schemaChanged || schema || capture.incomplete) {
      capture.syncSchema()
      return { kind: 'snapshot', schema }
    }
    if (!capture.touched) return { kind: 'noop' }
    const bytes = capture.changeset()
    return bytes
      ? { kind: 'changeset', bytes, pointWrites: pointWrites.eligible, captured: true }
      : { kind: 'noop' }
  }
}

/** The key prefix of the changesets of `epoch` (up to and including `cs-`). */
function changesetKeyPrefix(ctx: EngineContext, epoch: string): string {
  return ctx.keys.changeset(epoch, '').slice(0, -'.bin'.length)
}

function tooSlow(times: number): StoreUnavailableError {
  return new StoreUnavailableError(
    `the upload of this commit took longer than the publish window (${PUBLISH_WINDOW_MS / 1000} s) ${times} times; nothing was published; retry when the store is faster`,
    { maybeApplied: false },
  )
}

function isSpecial(options: WriteOptions): boolean {
  return options.migration !== undefined || options.foreignKeysOff === true
}

function settle(r: Request): void {
  if (r.settled) return
  r.settled = true
  r.dispose?.()
  r.resolve(r.value)
}

function fail(r: Request, err: unknown): void {
  if (r.settled) return
  r.settled = true
  r.dispose?.()
  r.reject(err)
}

/** Settles every member with its latest run's outcome (now known to stem from committed state). */
function settleAll(batch: readonly Request[]): void {
  for (const r of batch) {
    if (r.error !== undefined) fail(r, r.error)
    else settle(r)
  }
}

function assertStillInTransaction(writer: { inTransaction: boolean }): void {
  if (!writer.inTransaction) {
    throw new S3dbError(
      'InvalidArgument',
      'the callback ended the transaction s3db runs it in (COMMIT/ROLLBACK inside update); the local replica will be rebuilt',
    )
  }
}
