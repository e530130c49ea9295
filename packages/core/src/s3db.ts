/**
 * `S3db`: a SQLite database that lives in an object store. Many processes read
 * and write one database at once with serializable transactions; each process
 * keeps a local replica and publishes its writes as changesets with a
 * compare-and-swap on the manifest.
 *
 * @module
 */
import { type CompactResult, compact } from './compact.js'
import {
  DEFAULT_TRANSFER_SETTINGS,
  type EngineContext,
  type EngineSettings,
  measure,
  safeEmitter,
} from './context.js'
import {
  ClosedError,
  DatabaseNotFoundError,
  InvalidArgumentError,
  isS3dbError,
  ReadOnlyError,
  ReentrantTransactionError,
  throwIfAborted,
} from './errors.js'
import type { EventHandler } from './events.js'
import { parseDurationMs } from './format/history.js'
import { DatabaseKeys, type Manifest } from './format/manifest.js'
import { validateDatabasePrefix } from './format/prefix.js'
import { collectGarbage, type GcResult } from './gc.js'
import { type HistoryPoint, readRetention, writeRetention } from './history.js'
import {
  type BranchResult,
  branchDatabase,
  buildState,
  type HistoryOptions,
  historyLog,
  type LogEntry,
  type RestoreOptions,
  type RestoreResult,
  restoreDatabase,
} from './history-ops.js'
import { assertSchemaKnown, type Migration, migrationError, planMigrations } from './migrate.js'
import { LocalReplica } from './replica/local-replica.js'
import { type Runtime, systemRuntime } from './runtime.js'
import type { BlobStore } from './store/blob-store.js'
import { CountingBlobStore, type RequestCounts } from './store/counting-store.js'
import { storeIdentity } from './store/identity.js'
import { RetryingBlobStore } from './store/retrying-store.js'
import {
  type FetchedManifest,
  readManifest,
  refreshManifest,
  replicaIsCurrent,
  syncReplica,
} from './sync.js'
import {
  createDatabase,
  initDatabase,
  type PushGuard,
  pullDatabase,
  pushDatabase,
  type TransferOptions,
  type TransferResult,
} from './transfer.js'
import { ConnectionTx, replicaError, type Tx } from './tx.js'
import { Mutex } from './util/mutex.js'
import { ReadWriteLock } from './util/rw-lock.js'
import { viewNow } from './view-now.js'
import { type Isolation, insideTransaction, WriteQueue } from './write-queue.js'

/** How fresh a `view` must be. */
export type ReadConsistency = 'strong' | { maxStalenessMs: number }

/** Options of {@link S3db.open}. */
export interface S3dbOptions {
  /**
   * Path of the local replica file. Reused across restarts (only what is missing
   * is fetched). Default: a temp file removed on close. One process per path.
   */
  localPath?: string | undefined
  /** Schema migrations applied on open, each once, safely under concurrent openers. */
  migrations?: readonly Migration[] | undefined
  /**
   * Compact in the background once a commit leaves this many log entries
   * (default 200); `false` disables it.
   */
  autoCompact?: number | false | undefined
  /**
   * 'serializable' (default): on conflict, callbacks re-run on the newer state.
   * 'snapshot': on conflict, the changeset is first rebased onto the newer state
   * and published without re-running when no row it wrote changed (allows write skew).
   */
  isolation?: Isolation | undefined
  /**
   * 'strong' (default): every view asks the store whether there is something new
   * (one conditional GET). `{ maxStalenessMs }`: skip that within the window.
   */
  readConsistency?: ReadConsistency | undefined
  /** Commit attempts after a lost race before WriteConflict (default 100). */
  maxRetries?: number | undefined
  /** Minimum time an object stays after it became unreachable, for gc (default 5 min). */
  gcGracePeriod?: number | undefined
  /** Receives sync, commit, conflict, compaction, gc and progress events. */
  onEvent?: EventHandler | undefined
  /** Most update callbacks published together in one commit (default 256). */
  maxBatch?: number | undefined
  /** Create an empty database when none exists at the prefix (default true). */
  createIfMissing?: boolean | undefined
  /**
   * Read INTEGER values as `bigint` in every transaction (default false: as
   * numbers, and a value beyond Number.MAX_SAFE_INTEGER raises
   * UnsafeIntegerError instead of being rounded). One statement can choose
   * with `tx.prepare(sql).safeIntegers(on)`.
   */
  safeIntegers?: boolean | undefined
  /**
   * Open a read-only handle on a past state: `{ seq }`, or `{ time }` (a Date,
   * ms since the epoch or an ISO 8601 string: the state current then). Updates,
   * compaction and gc raise ReadOnlyError; views read that state, never a newer
   * one. Needs the state to be retained (`history.retain`), else
   * HistoryUnavailable. Cannot be combined with `localPath` or `migrations`.
   */
  at?: HistoryPoint | undefined
  /**
   * History retention of the database, recorded in the store (every client's
   * and the CLI's gc honour it): `{ retain: '7d' }` keeps every past state of
   * the last 7 days readable (`at`), restorable and branchable. A duration
   * string (`30m`, `12h`, `7d`, `2w`) or milliseconds; `0` turns it off.
   * Omitted: the recorded setting is left as it is (none: today's behaviour,
   * gc deletes the past after its grace period).
   */
  history?: { retain: string | number } | undefined
  /** Cancels opening. */
  signal?: AbortSignal | undefined
  /**
   * @internal Clock, randomness and ids. The deterministic simulator passes its
   * own; applications leave it unset.
   */
  runtime?: Runtime | undefined
}

/** Options of `update` and `view`. */
export interface TransactionOptions {
  signal?: AbortSignal | undefined
}

/** Options of `update`. */
export interface UpdateOptions extends TransactionOptions {
  /**
   * `false`: run with foreign key enforcement off (table-rebuilding migrations;
   * SQLite cannot switch it inside a transaction) and fail the update if
   * `PRAGMA foreign_key_check` finds violations before commit. Such an update is
   * never group-committed with others.
   */
  foreignKeys?: false | undefined
}

/** Options of {@link S3db.gc}. */
export interface GcCallOptions {
  /** How long an object stays after it became unreachable (ms; default: the gcGracePeriod option, 5 min). */
  gracePeriod?: number | undefined
  /**
   * Never delete an unreferenced object younger than this (ms; default 2 min): a
   * writer may be about to publish it. Lower it only when no writer is running.
   */
  minAge?: number | undefined
  /** List what would be deleted, delete nothing. */
  dryRun?: boolean | undefined
  signal?: AbortSignal | undefined
}

/** What {@link S3db.stats} reports. */
export interface S3dbStats {
  seq: number
  schemaVersion: number
  snapshot: { key: string; seq: number; size: number }
  logLength: number
  /** Bytes of the log's changesets (as recorded in the manifest). */
  logBytes: number
  /** Seq the local replica is at (undefined while it is being rebuilt). */
  localSeq: number | undefined
  /** Store requests this instance sent, by kind. */
  requests: RequestCounts
}

/** Defaults of the {@link S3dbOptions} (exported for the test that keeps the docs in line). */
export const DEFAULTS = {
  autoCompact: 200,
  maxRetries: 100,
  gcGracePeriod: 5 * 60_000,
  maxBatch: 256,
}

function validateOptions(options: S3dbOptions): void {
  const { autoCompact, maxRetries, gcGracePeriod, isolation, readConsistency, maxBatch } = options
  if (
    autoCompact !== undefined &&
    autoCompact !== false &&
    !(Number.isSafeInteger(autoCompact) && autoCompact > 0)
  ) {
    throw new InvalidArgumentError('autoCompact must be a positive integer or false')
  }
  if (maxRetries !== undefined && !(Number.isSafeInteger(maxRetries) && maxRetries >= 0)) {
    throw new InvalidArgumentError('maxRetries must be a non-negative integer')
  }
  if (gcGracePeriod !== undefined && !(Number.isFinite(gcGracePeriod) && gcGracePeriod >= 0)) {
    throw new InvalidArgumentError('gcGracePeriod must be a non-negative number of milliseconds')
  }
  if (isolation !== undefined && isolation !== 'serializable' && isolation !== 'snapshot') {
    throw new InvalidArgumentError(`isolation must be 'serializable' or 'snapshot'`)
  }
  if (
    readConsistency !== undefined &&
    readConsistency !== 'strong' &&
    !(
      typeof readConsistency === 'object' &&
      Number.isFinite(readConsistency.maxStalenessMs) &&
      readConsistency.maxStalenessMs >= 0
    )
  ) {
    throw new InvalidArgumentError(`readConsistency must be 'strong' or { maxStalenessMs: number }`)
  }
  if (maxBatch !== undefined && !(Number.isSafeInteger(maxBatch) && maxBatch > 0)) {
    throw new InvalidArgumentError('maxBatch must be a positive integer')
  }
  if (options.safeIntegers !== undefined && typeof options.safeIntegers !== 'boolean') {
    throw new InvalidArgumentError('safeIntegers must be a boolean')
  }
}

/** Reads the manifest, creating an empty database when there is none (one creator wins). */
async function loadOrCreate(
  store: BlobStore,
  keys: DatabaseKeys,
  create: boolean,
  runtime: Runtime,
  signal?: AbortSignal,
): Promise<FetchedManifest> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await readManifest(store, keys.manifest, keys.prefix, signal)
    } catch (err) {
      if (!isS3dbError(err, 'NotFound') || attempt > 2) throw err
      if (!create) throw new DatabaseNotFoundError(keys.prefix, { cause: err })
    }
    try {
      // The read just said there is none: create without asking again.
      return await createDatabase(store, keys, { signal, runtime })
    } catch (err) {
      // Another opener created it first: read theirs.
      if (!isS3dbError(err, 'AlreadyExists')) throw err
    }
  }
}

/**
 * A database in an object store. Open with {@link S3db.open}; write with
 * {@link S3db.update}, read with {@link S3db.view}.
 */
export class S3db implements AsyncDisposable {
  readonly prefix: string
  readonly #ctx: EngineContext
  readonly #queue: WriteQueue
  readonly #readConsistency: ReadConsistency
  readonly #autoCompact: number | false
  readonly #appSchemaVersion: number | undefined
  #compacting: Promise<unknown> | undefined
  /** Views, compactions and gc runs in flight: close() waits for them. */
  readonly #inFlight = new Set<Promise<unknown>>()
  #closed = false
  #closing: Promise<void> | undefined
  /** Set on a handle opened with `at`: the seq it is pinned to (read-only). */
  #pinnedSeq: number | undefined

  private constructor(
    ctx: EngineContext,
    options: S3dbOptions,
    appSchemaVersion: number | undefined,
  ) {
    this.prefix = ctx.keys.prefix
    this.#ctx = ctx
    this.#readConsistency = options.readConsistency ?? 'strong'
    this.#autoCompact = options.autoCompact ?? DEFAULTS.autoCompact
    this.#appSchemaVersion = appSchemaVersion
    this.#queue = new WriteQueue(
      ctx,
      {
        isolation: options.isolation ?? 'serializable',
        maxBatch: options.maxBatch ?? DEFAULTS.maxBatch,
        maxStalenessMs:
          typeof options.readConsistency === 'object' ? options.readConsistency.maxStalenessMs : 0,
        checkWritable: (m) => assertSchemaKnown(m, this.#appSchemaVersion),
        afterCommit: (m) => this.#maybeCompact(m),
      },
      this,
    )
  }

  /**
   * Opens the database at `prefix` in `store`, creating it when absent, brings
   * the local replica up to date and applies pending migrations.
   *
   * @param prefix - folder of the database in the store, ending in `/` (e.g. `"myapp/db/"`).
   */
  static async open(store: BlobStore, prefix: string, options: S3dbOptions = {}): Promise<S3db> {
    validateDatabasePrefix(prefix)
    validateOptions(options)
    const retainMs =
      options.history === undefined
        ? undefined
        : parseDurationMs(
            (options.history as { retain?: unknown } | null)?.retain,
            'history.retain',
          )
    if (options.at !== undefined) return S3db.#openAt(store, prefix, options)
    const { signal } = options
    const plan = options.migrations ? planMigrations(options.migrations) : undefined
    const runtime = options.runtime ?? systemRuntime
    const counter = new CountingBlobStore(store)
    const retrying = new RetryingBlobStore(counter, undefined, runtime)
    const keys = new DatabaseKeys(prefix)
    // The local replica opens while the manifest request is in flight: a cold
    // start pays the round trip once, not plus the local set-up.
    const [loaded, opened] = await Promise.allSettled([
      loadOrCreate(retrying, keys, options.createIfMissing ?? true, runtime, signal),
      LocalReplica.open(options.localPath, `${storeIdentity(store)}#${prefix}`),
    ])
    if (loaded.status === 'rejected' || opened.status === 'rejected') {
      if (opened.status === 'fulfilled') await opened.value.close()
      throw loaded.status === 'rejected' ? loaded.reason : (opened as PromiseRejectedResult).reason
    }
    const fetched = loaded.value
    const replica = opened.value
    const settings: EngineSettings = {
      maxRetries: options.maxRetries ?? DEFAULTS.maxRetries,
      gcGracePeriodMs: options.gcGracePeriod ?? DEFAULTS.gcGracePeriod,
      safeIntegers: options.safeIntegers,
      ...DEFAULT_TRANSFER_SETTINGS,
    }
    const ctx: EngineContext = {
      store: retrying,
      counter,
      keys,
      replica,
      settings,
      runtime,
      writerLock: new Mutex(),
      readLock: new ReadWriteLock(),
      remote: {
        manifest: fetched.manifest,
        etag: fetched.etag,
        confirmedAt: runtime.monotonic(),
        ticket: 0,
      },
      nextTicket: 1,
      foreignSeenAt: Number.NEGATIVE_INFINITY,
      emit: safeEmitter(options.onEvent),
    }
    const db = new S3db(ctx, options, plan?.latest)
    try {
      await ctx.writerLock.run(() => syncReplica(ctx, signal))
      if (plan) await db.#migrate(plan.sorted, plan.latest, signal)
      assertSchemaKnown(ctx.remote.manifest, plan?.latest)
      if (retainMs !== undefined) await writeRetention(retrying, keys, { retainMs }, signal)
      return db
    } catch (err) {
      await db.close()
      throw err
    }
  }

  /** A read-only handle on a past state (see {@link S3dbOptions.at}). */
  static async #openAt(store: BlobStore, prefix: string, options: S3dbOptions): Promise<S3db> {
    if (options.localPath !== undefined || options.migrations !== undefined)
      throw new InvalidArgumentError(
        'at cannot be combined with localPath or migrations: a past state is read-only and opens in a temp replica',
      )
    if (options.history !== undefined)
      throw new InvalidArgumentError(
        'at cannot be combined with history (a past state is read-only)',
      )
    const { signal } = options
    const runtime = options.runtime ?? systemRuntime
    const counter = new CountingBlobStore(store)
    const retrying = new RetryingBlobStore(counter, undefined, runtime)
    const keys = new DatabaseKeys(prefix)
    const replica = await LocalReplica.open(undefined, `${storeIdentity(store)}#${prefix}#at`)
    try {
      const built = await buildState(retrying, keys, options.at!, replica.dir, {
        signal,
        runtime,
        onProgress: options.onEvent,
      })
      try {
        await replica.install(built.file, { seq: built.seq, head: built.head })
      } catch (err) {
        await import('node:fs/promises').then((fs) => fs.unlink(built.file)).catch(() => {})
        throw err
      }
      const ctx: EngineContext = {
        store: retrying,
        counter,
        keys,
        replica,
        settings: {
          maxRetries: 0,
          gcGracePeriodMs: DEFAULTS.gcGracePeriod,
          safeIntegers: options.safeIntegers,
          ...DEFAULT_TRANSFER_SETTINGS,
        },
        runtime,
        writerLock: new Mutex(),
        readLock: new ReadWriteLock(),
        remote: { manifest: built.manifest, etag: '', confirmedAt: runtime.monotonic(), ticket: 0 },
        nextTicket: 1,
        foreignSeenAt: Number.NEGATIVE_INFINITY,
        emit: safeEmitter(options.onEvent),
      }
      const db = new S3db(ctx, { ...options, autoCompact: false }, undefined)
      db.#pinnedSeq = built.seq
      return db
    } catch (err) {
      await replica.close()
      throw err
    }
  }

  /** The seq a handle opened with `at` reads (undefined for a live handle). */
  get pinnedSeq(): number | undefined {
    return this.#pinnedSeq
  }

  #readOnly(operation: string): ReadOnlyError {
    return new ReadOnlyError(
      `db.${operation}() on a handle opened at seq ${this.#pinnedSeq}: past states are read-only (restore one with S3db.restore, or branch it with S3db.branch)`,
    )
  }

  /**
   * Runs `fn` as a serializable read-write transaction and publishes its
   * changes. Resolves with `fn`'s value once the commit is durable in the store.
   *
   * `fn` may run more than once: when another writer commits first, it is
   * re-run on the newer state. Keep side effects (HTTP calls, emails) out of it.
   * If `fn` throws, nothing is published and the error is rethrown.
   */
  update<T>(fn: (tx: Tx) => T | Promise<T>, options: UpdateOptions = {}): Promise<T> {
    try {
      this.#assertUsable('update')
      if (this.#pinnedSeq !== undefined) throw this.#readOnly('update')
    } catch (err) {
      return Promise.reject(err)
    }
    return this.#queue.submit(fn, {
      signal: options.signal,
      foreignKeysOff: options.foreignKeys === false,
    })
  }

  /**
   * Runs `fn` as a read-only transaction over a consistent snapshot that
   * includes every commit finished before the call (with the default 'strong'
   * consistency). Writes inside fail with ReadOnlyError.
   */
  view<T>(fn: (tx: Tx) => T | Promise<T>, options: TransactionOptions = {}): Promise<T> {
    return this.#track('view', () => this.#view(fn, options))
  }

  async #view<T>(fn: (tx: Tx) => T | Promise<T>, options: TransactionOptions): Promise<T> {
    const { signal } = options
    throwIfAborted(signal)
    if (this.#pinnedSeq === undefined) await this.#freshen(signal)
    const ctx = this.#ctx
    return ctx.readLock.shared(async () => {
      const reader = ctx.replica.acquireReader()
      const tx = new ConnectionTx(reader, true, undefined, {
        safeIntegers: ctx.settings.safeIntegers,
      })
      reader.exec('BEGIN')
      try {
        const value = await insideTransaction.run({ db: this, mode: 'view' }, () => fn(tx))
        tx.end()
        try {
          if (reader.inTransaction) reader.exec('COMMIT')
        } catch (err) {
          // Only a damaged file fails a read transaction's COMMIT.
          throw replicaError(reader, err)
        }
        return value
      } finally {
        tx.end()
        if (reader.inTransaction) {
          try {
            reader.exec('ROLLBACK')
          } catch {
            // The callback's (or COMMIT's) error is the one to report.
          }
        }
        ctx.replica.releaseReader(reader)
      }
    })
  }

  /**
   * @internal The ORM drivers' path for one statement outside a transaction:
   * runs a synchronous read `fn` now, when the replica may answer as it is (a
   * pinned handle, or within `maxStalenessMs` of the last confirmation, with
   * the replica current) and nothing holds it exclusively; else returns
   * undefined and the caller uses {@link view}. Every statement of `fn` reads
   * the same committed state, as in a view: the replica's read transaction,
   * held from one such read to the next until the state changes
   * (LocalReplica.readNow).
   */
  [viewNow]<T>(fn: (tx: Tx) => T): { value: T } | undefined {
    if (this.#closed || insideTransaction.getStore()?.db === this) return undefined
    const ctx = this.#ctx
    if (this.#pinnedSeq === undefined && !(this.#withinStaleness() && replicaIsCurrent(ctx)))
      return undefined
    return ctx.readLock.sharedNow(() =>
      ctx.replica.readNow((reader) => {
        const tx = new ConnectionTx(reader, true, undefined, {
          safeIntegers: ctx.settings.safeIntegers,
        })
        try {
          return fn(tx)
        } finally {
          tx.end()
        }
      }),
    )
  }

  /** Folds the log into a new snapshot (readers then start faster). */
  compact(options: TransactionOptions = {}): Promise<CompactResult> {
    if (this.#pinnedSeq !== undefined) return Promise.reject(this.#readOnly('compact'))
    return this.#track('compact', () => compact(this.#ctx, options.signal))
  }

  /**
   * Deletes snapshots and changesets that no manifest references any more, once
   * unreachable for longer than the grace period.
   */
  gc(options: GcCallOptions = {}): Promise<GcResult> {
    if (this.#pinnedSeq !== undefined) return Promise.reject(this.#readOnly('gc'))
    return this.#track('gc', () => this.#gc(options))
  }

  async #gc(options: GcCallOptions): Promise<GcResult> {
    const done = measure(this.#ctx)
    const result = await collectGarbage(this.#ctx.store, this.#ctx.keys, {
      now: () => this.#ctx.runtime.now(),
      gracePeriodMs: options.gracePeriod ?? this.#ctx.settings.gcGracePeriodMs,
      minAgeMs: options.minAge,
      dryRun: options.dryRun,
      signal: options.signal,
    })
    this.#ctx.emit({
      type: 'gc',
      deleted: result.deleted.length,
      retained: result.retained.length,
      ...done(),
    })
    return result
  }

  /** The database's position and this instance's store traffic. */
  stats(): S3dbStats {
    const m = this.#ctx.remote.manifest
    return {
      seq: m.seq,
      schemaVersion: m.schemaVersion,
      snapshot: { ...m.snapshot },
      logLength: m.log.length,
      logBytes: m.log.reduce((n, e) => n + e.size, 0),
      localSeq: this.#ctx.replica.position?.seq,
      requests: this.#ctx.counter.snapshot(),
    }
  }

  /**
   * Refuses new work, waits for queued writes and for views, compactions and gc
   * runs in flight, then releases the replica. Every call returns the same
   * promise: the replica is released when any of them resolves.
   */
  close(): Promise<void> {
    this.#closed = true
    this.#closing ??= this.#close()
    return this.#closing
  }

  async #close(): Promise<void> {
    await this.#queue.idle()
    await this.#compacting
    while (this.#inFlight.size > 0) await Promise.allSettled([...this.#inFlight])
    await this.#ctx.writerLock.run(() =>
      this.#ctx.readLock.exclusive(() => this.#ctx.replica.close()),
    )
  }

  /** Runs an operation that close() must wait for. */
  #track<T>(operation: string, run: () => Promise<T>): Promise<T> {
    try {
      this.#assertUsable(operation)
    } catch (err) {
      return Promise.reject(err)
    }
    const running = run()
    const settled: Promise<void> = running.then(
      () => {},
      () => {},
    )
    this.#inFlight.add(settled)
    void settled.then(() => this.#inFlight.delete(settled))
    return running
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close()
  }

  /**
   * Garbage collection without opening the database (no snapshot download): for
   * tools and scheduled jobs. See {@link S3db.gc}.
   */
  static gc(store: BlobStore, prefix: string, options: GcCallOptions = {}): Promise<GcResult> {
    validateDatabasePrefix(prefix)
    return collectGarbage(store, new DatabaseKeys(prefix), {
      gracePeriodMs: options.gracePeriod ?? DEFAULTS.gcGracePeriod,
      minAgeMs: options.minAge,
      dryRun: options.dryRun,
      signal: options.signal,
    })
  }

  /**
   * Publishes the state at `options.at` as a new commit (a snapshot commit; seq
   * moves forward, so the restore can itself be undone and running processes
   * see an ordinary commit). Refuses (SchemaMismatch) a state with another
   * schema version unless `allowSchemaChange`.
   */
  static restore(
    store: BlobStore,
    prefix: string,
    options: RestoreOptions,
  ): Promise<RestoreResult> {
    return restoreDatabase(store, prefix, options)
  }

  /**
   * Creates a new, independent database at `toPrefix` with the state of
   * `fromPrefix` (now, or at `options.at`). Objects are copied server-side
   * where the store can (S3 CopyObject, hard links on the filesystem store),
   * never shared: the source's gc cannot break the branch.
   */
  static branch(
    store: BlobStore,
    fromPrefix: string,
    toPrefix: string,
    options?: HistoryOptions & { at?: HistoryPoint | undefined },
  ): Promise<BranchResult> {
    return branchDatabase(store, fromPrefix, toPrefix, options)
  }

  /** The retained commits, newest first (see {@link historyLog}). */
  static log(
    store: BlobStore,
    prefix: string,
    options?: HistoryOptions & { limit?: number | undefined; changes?: boolean | undefined },
  ): Promise<{ entries: LogEntry[]; oldestSeq: number; seq: number }> {
    return historyLog(store, prefix, options)
  }

  /** Reads (no `retain`) or records the history retention of a database (ms). */
  static async retention(
    store: BlobStore,
    prefix: string,
    retain?: string | number,
    options: { signal?: AbortSignal | undefined } = {},
  ): Promise<{ retainMs: number; changed: boolean }> {
    validateDatabasePrefix(prefix)
    const keys = new DatabaseKeys(prefix)
    // Only an existing database gets a setting.
    await readManifest(store, keys.manifest, prefix, options.signal).catch((err: unknown) => {
      if (isS3dbError(err, 'NotFound')) throw new DatabaseNotFoundError(prefix, { cause: err })
      throw err
    })
    if (retain === undefined)
      return { ...(await readRetention(store, keys, options.signal)), changed: false }
    const retainMs = parseDurationMs(retain, 'retain')
    const changed = await writeRetention(store, keys, { retainMs }, options.signal)
    return { retainMs, changed }
  }

  /** Creates a database at `prefix` (empty, or from a SQLite file); refuses to overwrite one. */
  static init(
    store: BlobStore,
    prefix: string,
    options?: TransferOptions & { from?: string },
  ): Promise<TransferResult> {
    return initDatabase(store, prefix, options)
  }

  /** Writes the current database to the SQLite file `file` (and its seq to `<file>.s3db-seq`). */
  static pull(
    store: BlobStore,
    prefix: string,
    file: string,
    options?: TransferOptions,
  ): Promise<TransferResult> {
    return pullDatabase(store, prefix, file, options)
  }

  /** Publishes the SQLite file `file` as the database's new state, if it did not move since `expectedSeq`. */
  static push(
    store: BlobStore,
    prefix: string,
    file: string,
    guard: PushGuard,
    options?: TransferOptions,
  ): Promise<TransferResult> {
    return pushDatabase(store, prefix, file, guard, options)
  }

  /** Whether reads may skip asking the store: within `maxStalenessMs` of its last answer. */
  #withinStaleness(): boolean {
    const rc = this.#readConsistency
    return (
      rc !== 'strong' &&
      this.#ctx.runtime.monotonic() - this.#ctx.remote.confirmedAt <= rc.maxStalenessMs
    )
  }

  async #freshen(signal: AbortSignal | undefined): Promise<void> {
    const ctx = this.#ctx
    if (!this.#withinStaleness()) await refreshManifest(ctx, signal)
    if (!replicaIsCurrent(ctx)) {
      await ctx.writerLock.run(() => syncReplica(ctx, signal))
    }
  }

  /**
   * Applies the pending migrations, one DDL commit each. Each commit picks its
   * migration from the manifest it runs against (after a lost race, or an
   * operator's restore, that is not the one first seen), so the version it
   * records always follows the migrations run on that state.
   */
  async #migrate(migrations: Migration[], latest: number, signal: AbortSignal | undefined) {
    const ctx = this.#ctx
    let picked: Migration | undefined
    const pick = (base: Manifest) => {
      picked = migrations.find((m) => m.version > base.schemaVersion)
      return picked
    }
    while (ctx.remote.manifest.schemaVersion < latest) {
      try {
        await this.#queue.submit(() => {}, { signal, migration: pick })
      } catch (err) {
        throw picked ? migrationError(picked, err) : err
      }
      // The commit's base had nothing left to apply: the schema is current.
      if (!picked) return
    }
  }

  #maybeCompact(manifest: Manifest): void {
    if (this.#autoCompact === false || this.#compacting || this.#closed) return
    if (manifest.log.length < this.#autoCompact) return
    this.#compacting = compact(this.#ctx)
      .catch((error: unknown) => {
        this.#ctx.emit({
          type: 'error',
          operation: 'auto-compact',
          error: error instanceof Error ? error : new Error(String(error)),
        })
      })
      .finally(() => {
        this.#compacting = undefined
      })
  }

  #assertUsable(operation: string): void {
    if (this.#closed) throw new ClosedError()
    // One rule for every operation: none may run inside a callback of the same
    // database (a view in a view can need the replica exclusively to install a
    // snapshot, and would wait for itself).
    const inside = insideTransaction.getStore()
    if (inside?.db === this) {
      throw new ReentrantTransactionError(
        `db.${operation}() was called inside a db.${inside.mode}() callback of the same database, which would deadlock: use the tx argument of the callback instead`,
      )
    }
  }
}
