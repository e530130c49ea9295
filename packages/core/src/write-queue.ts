/**
 * The write path: run callbacks in a local transaction with change capture,
 * publish the changeset (or a snapshot for DDL), CAS the manifest, and on a lost
 * race re-run on the newer state (serializable) or rebase (snapshot isolation).
 *
 * Concurrent `update` calls in one process are group-committed: callbacks queued
 * while a commit is in flight run together next, each in its own savepoint, and
 * are published as one changeset with one CAS.
 *
 * @module
 */
import { AsyncLocalStorage } from 'node:async_hooks'
import { applyChangeset } from './changeset/index.js'
import { type CommitObject, publishManifest } from './commit.js'
import { type EngineContext, measure } from './context.js'
import {
  InvalidArgumentError,
  isS3dbError,
  S3dbError,
  throwIfAborted,
  WriteConflictError,
} from './errors.js'
import { FairShare } from './fair-share.js'
import { newId } from './format/ids.js'
import { appendLog, epochOf, type Manifest } from './format/manifest.js'
import { PUBLISH_WINDOW_MS } from './format/protocol.js'
import { asRollbackJournal } from './sqlite-file.js'
import { refreshManifest, syncReplica } from './sync.js'
import { ConnectionTx, type Tx } from './tx.js'
import { sleep } from './util/sleep.js'

/** Transaction isolation for `update`. */
export type Isolation = 'serializable' | 'snapshot'

/** Per-call options of a write. */
export interface WriteOptions {
  signal?: AbortSignal | undefined
  /**
   * Internal (migrations): given the manifest the callback runs against, the
   * schema versions to record, making the commit a snapshot commit; undefined
   * for an ordinary commit.
   */
  schema?:
    | ((manifest: Manifest) => { version: number; compatVersion: number } | undefined)
    | undefined
  /** Run with foreign key enforcement off, checking `PRAGMA foreign_key_check` before commit. */
  foreignKeysOff?: boolean | undefined
}

/** An object uploaded for a commit attempt. */
interface Uploaded {
  key: string
  kind: 'changeset' | 'snapshot'
  epoch: string
  bytes: Uint8Array
  /** When the upload completed (ms since epoch). */
  at: number
}

interface Request {
  fn: (tx: Tx) => unknown
  options: WriteOptions
  resolve(value: unknown): void
  reject(err: unknown): void
  settled: boolean
  value?: unknown
  /** Set when the callback threw in the latest run; final once the base state is verified. */
  error?: unknown
}

/** What running a batch locally produced (its local transaction still open). */
type Executed =
  | { kind: 'noop' }
  | { kind: 'changeset'; bytes: Uint8Array }
  | {
      kind: 'snapshot'
      bytes: Uint8Array
      schema?: { version: number; compatVersion: number } | undefined
    }

/** How many uncontended commits it takes to go back to optimistic commits. */
const MAX_CONTENTION = 8

/** Marks callbacks running inside a transaction: of which database, and which kind. */
export const insideTransaction = new AsyncLocalStorage<{ db: object; mode: 'update' | 'view' }>()

export interface WriteQueueSettings {
  isolation: Isolation
  /** Most callbacks published in one commit. */
  maxBatch: number
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
  readonly #fairShare = new FairShare()

  constructor(ctx: EngineContext, settings: WriteQueueSettings, owner: object) {
    this.#ctx = ctx
    this.#settings = settings
    this.#owner = owner
  }

  /** Queues `fn`; resolves with its value once its commit is durable in the store. */
  submit<T>(fn: (tx: Tx) => T | Promise<T>, options: WriteOptions): Promise<T> {
    throwIfAborted(options.signal)
    return new Promise<T>((resolve, reject) => {
      this.#queue.push({
        fn,
        options,
        resolve: resolve as (v: unknown) => void,
        reject,
        settled: false,
      })
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
        if (wait > 0) await sleep(wait)
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

  async #commit(batch: Request[]): Promise<void> {
    const ctx = this.#ctx
    const writer = () => ctx.replica.writer
    const options = batch[0]!.options
    const signal = batch.length === 1 ? options.signal : undefined
    const done = measure(ctx.counter)
    let uploaded: Uploaded | undefined
    let rebased: Uint8Array | undefined
    // Whether the base state was confirmed current by the store during this commit.
    let verified = false
    try {
      if (this.#contention > 0) {
        // Other writers won recently: a commit from the cached manifest would
        // likely lose (2 wasted round trips), so look first (1 conditional GET).
        await refreshManifest(ctx, signal)
        verified = true
      }
      // The state the replica holds: what the callbacks run on and the CAS is against.
      let base = await syncReplica(ctx, signal)
      for (let attempt = 1; ; ) {
        this.#settings.checkWritable(base.manifest)
        let executed: Executed
        if (rebased) {
          executed = { kind: 'changeset', bytes: rebased }
          rebased = undefined
        } else {
          executed = await this.#execute(batch, options, base.manifest)
        }
        const failed = batch.filter((r) => !r.settled && r.error !== undefined)
        if (failed.length > 0) {
          // A callback that threw on a replica that may be stale must see the
          // current state before its error is final (one conditional GET).
          if (!verified) {
            verified = true
            if (await refreshManifest(ctx, signal)) {
              writer().exec('ROLLBACK')
              for (const r of failed) r.error = undefined
              base = await syncReplica(ctx, signal)
              continue
            }
          }
          for (const r of failed) fail(r, r.error)
        }
        const live = batch.filter((r) => !r.settled)
        if (executed.kind === 'noop') {
          if (writer().inTransaction) writer().exec('COMMIT')
          for (const r of live) settle(r)
          return
        }
        const seq = base.manifest.seq + 1
        const epoch = epochOf(base.manifest.snapshot.key)
        // Re-use the previous attempt's upload when its bytes are unchanged. Never
        // publish an upload older than the publish window: GC may treat it as an
        // orphan after twice that (the process may have been frozen meanwhile).
        const reusable = (u: Uploaded | undefined): u is Uploaded =>
          u !== undefined &&
          u.kind === executed.kind &&
          u.epoch === epoch &&
          Date.now() - u.at < PUBLISH_WINDOW_MS &&
          Buffer.from(u.bytes).equals(Buffer.from(executed.bytes))
        if (!reusable(uploaded)) {
          const key =
            executed.kind === 'snapshot'
              ? ctx.keys.snapshot(newId())
              : ctx.keys.changeset(epoch, newId())
          await ctx.store.put(key, executed.bytes, {
            signal,
            contentType:
              executed.kind === 'snapshot' ? 'application/vnd.sqlite3' : 'application/octet-stream',
          })
          uploaded = { key, kind: executed.kind, epoch, bytes: executed.bytes, at: Date.now() }
        }
        const own: CommitObject = {
          key: uploaded.key,
          kind: executed.kind,
          uploadedAt: uploaded.at,
        }
        const next: Manifest =
          executed.kind === 'snapshot'
            ? {
                ...base.manifest,
                seq,
                schemaVersion: executed.schema?.version ?? base.manifest.schemaVersion,
                compatSchemaVersion:
                  executed.schema?.compatVersion ?? base.manifest.compatSchemaVersion,
                snapshot: { key: own.key, seq, size: executed.bytes.byteLength },
                log: [],
              }
            : appendLog(base.manifest, own.key, executed.bytes.byteLength)
        const publishStart = performance.now()
        const outcome = await publishManifest(ctx, next, base.etag, own, signal)
        if (outcome.committed) {
          if (outcome.seq === undefined) {
            // Landed, but our exact position is gone from the manifest: take the
            // state from the store instead of guessing.
            writer().exec('ROLLBACK')
            await ctx.replica.invalidate()
          } else {
            await ctx.replica.advance({ seq: outcome.seq, head: own.key }, () =>
              writer().exec('COMMIT'),
            )
          }
          for (const r of live) settle(r)
          ctx.emit({
            type: 'commit',
            seq: next.seq,
            transactions: live.length,
            kind: executed.kind,
            bytes: executed.bytes.byteLength,
            attempts: attempt,
            ...done(),
          })
          if (attempt === 1) this.#contention = Math.max(0, this.#contention - 1)
          this.#settings.afterCommit(ctx.remote.manifest)
          this.#fairShare.committed(performance.now() - publishStart, ctx.foreignSeenAt)
          return
        }
        writer().exec('ROLLBACK')
        this.#contention = Math.min(MAX_CONTENTION, this.#contention + 2)
        verified = true
        if (attempt > ctx.settings.maxRetries) throw new WriteConflictError(attempt)
        const canRebase = this.#settings.isolation === 'snapshot' && executed.kind === 'changeset'
        const backoffMs = this.#fairShare.retryDelay(attempt, performance.now() - publishStart)
        ctx.emit({
          type: 'conflict',
          attempt,
          resolution: canRebase ? 'rebase' : 'rerun',
          backoffMs,
          ...done(),
        })
        if (backoffMs > 0) {
          await sleep(backoffMs, signal)
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
      for (const r of batch) if (!r.settled) fail(r, err)
    } finally {
      if (options.foreignKeysOff && !writer().inTransaction) writer().pragma('foreign_keys = ON')
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
    if (options.foreignKeysOff) writer.pragma('foreign_keys = OFF')
    const schemaBefore = writer.pragma('schema_version', { simple: true }) as number
    capture.syncSchema()
    writer.exec('BEGIN IMMEDIATE')
    capture.reset()
    for (const r of batch) {
      if (r.settled) continue
      r.error = undefined
      writer.exec('SAVEPOINT s3db_update')
      const tx = new ConnectionTx(writer, false, {
        afterWrite: () => capture.syncSchema(),
        // Its writes bypass capture, which makes this commit a snapshot.
        alterTable: (run) => capture.withoutTriggers(run),
      })
      try {
        r.value = await insideTransaction.run({ db: this.#owner, mode: 'update' }, () => r.fn(tx))
        assertStillInTransaction(writer)
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
    if (options.foreignKeysOff) {
      const violations = writer.pragma('foreign_key_check') as unknown[]
      if (violations.length > 0) {
        throw new InvalidArgumentError(
          `foreign key check failed after the migration: ${violations.length} violation(s), first ${JSON.stringify(violations[0])}`,
        )
      }
    }
    const schemaChanged =
      (writer.pragma('schema_version', { simple: true }) as number) !== schemaBefore
    const succeeded = batch.some((r) => !r.settled && r.error === undefined)
    const schema = succeeded ? options.schema?.(base) : undefined
    if (schemaChanged || schema || capture.incomplete) {
      capture.syncSchema()
      return { kind: 'snapshot', bytes: asRollbackJournal(writer.serialize()), schema }
    }
    if (!capture.touched) return { kind: 'noop' }
    const bytes = capture.changeset()
    return bytes ? { kind: 'changeset', bytes } : { kind: 'noop' }
  }
}

function isSpecial(options: WriteOptions): boolean {
  return options.schema !== undefined || options.foreignKeysOff === true
}

function settle(r: Request): void {
  if (r.settled) return
  r.settled = true
  r.resolve(r.value)
}

function fail(r: Request, err: unknown): void {
  if (r.settled) return
  r.settled = true
  r.reject(err)
}

function assertStillInTransaction(writer: { inTransaction: boolean }): void {
  if (!writer.inTransaction) {
    throw new S3dbError(
      'InvalidArgument',
      'the callback ended the transaction s3db runs it in (COMMIT/ROLLBACK inside update); the local replica will be rebuilt',
    )
  }
}
