/**
 * Simulated client processes: each an S3db instance with its own replica file,
 * its own (skewed) wall clock, and a life that can end in a crash. A crash
 * leaves the replica files as they are on disk; the restarted process reuses
 * them (copied to a new directory, since the crashed instance still holds its
 * file locks and an open SQLite transaction inside this one OS process).
 */
import { copyFileSync, existsSync, mkdirSync } from 'node:fs'
import { join } from 'node:path'
import { type Migration, S3db, type S3dbOptions } from '@s3db/core'
import type { Sim } from './simulate.ts'
import { type Ctx, type Life, simContext } from './world.ts'

export const PREFIX = 'sim/db/'
export const BANK_ACCOUNTS = 5
export const BANK_START = 100
export const LIST_KEYS = ['k0', 'k1', 'k2', 'k3', 'k4']
/** Rows of the `counters` table that 'bump' ops increment by primary key. */
export const COUNTERS = 4
/** Highest migration version a deploy can reach. */
export const MAX_LEVEL = 4

/** The app's migrations up to `level`: v1 lays out the schema, later ones are additive. */
export function migrations(level: number): Migration[] {
  const out: Migration[] = [
    {
      version: 1,
      name: 'schema',
      up: (tx) => {
        tx.exec(`CREATE TABLE lists (k TEXT PRIMARY KEY, v TEXT NOT NULL);
          CREATE TABLE accounts (id INTEGER PRIMARY KEY, balance INTEGER NOT NULL);
          CREATE TABLE ledger (id INTEGER PRIMARY KEY, token TEXT NOT NULL);
          CREATE TABLE parent (id INTEGER PRIMARY KEY);
          CREATE TABLE child (id INTEGER PRIMARY KEY, parent_id INTEGER NOT NULL
            REFERENCES parent(id) DEFERRABLE INITIALLY DEFERRED);
          CREATE TABLE counters (id INTEGER PRIMARY KEY, n INTEGER NOT NULL);
          INSERT INTO parent (id) VALUES (1);`)
        for (let i = 1; i <= COUNTERS; i++)
          tx.run('INSERT INTO counters (id, n) VALUES (?, 0)', [i])
        for (let i = 1; i <= BANK_ACCOUNTS; i++)
          tx.run('INSERT INTO accounts (id, balance) VALUES (?, ?)', [i, BANK_START])
        tx.run("INSERT INTO ledger (token) VALUES ('mig-1')")
      },
    },
  ]
  for (let v = 2; v <= level; v++)
    out.push({
      version: v,
      name: `additive ${v}`,
      compatible: true,
      up: (tx) => {
        tx.exec(`CREATE TABLE mig_${v} (id INTEGER PRIMARY KEY, note TEXT)`)
        tx.run('INSERT INTO ledger (token) VALUES (?)', [`mig-${v}`])
      },
    })
  return out
}

/** The engine's clock/random/ids hook (structurally the @internal Runtime). */
export interface SimRuntime {
  now(): number
  monotonic(): number
  random(): number
  sleep(ms: number, signal?: AbortSignal): Promise<void>
  newId(): string
}

export function runtimeFor(sim: Sim, client: string): SimRuntime {
  const world = sim.world
  return {
    now: () => world.clientNow(client),
    monotonic: () => world.now - 1_600_000_000_000,
    random: () => world.random(),
    sleep: (ms, signal) => world.sleep(ms, signal),
    newId: () => world.newId(),
  }
}

/** The process an operation ran in crashed: nobody observes its outcome. */
export class CrashedError extends Error {
  override name = 'CrashedError'
}

export class SimClient {
  readonly name: string
  readonly index: number
  /** Migrations this client's app knows. */
  level = 1
  readonly staleMs: number
  life: Life
  generation = 0
  db: S3db | undefined
  opening: Promise<S3db> | undefined
  /** Every replica path this client used (reopened and compared at the end). */
  readonly paths: string[] = []
  /** Instances (or openings) of crashed lives, wound down after the run. */
  readonly zombies: Promise<S3db | undefined>[] = []
  path: string
  readonly #sim: Sim

  constructor(sim: Sim, index: number, staleMs: number) {
    this.#sim = sim
    this.index = index
    this.name = `c${index}`
    this.staleMs = staleMs
    this.life = { name: `${this.name}.0`, dead: false, reaping: false }
    this.path = this.#newPath()
  }

  #newPath(): string {
    const dir = join(this.#sim.dir, `${this.name}-${this.generation}`)
    mkdirSync(dir, { recursive: true })
    const path = join(dir, 'replica.sqlite')
    this.paths.push(path)
    return path
  }

  options(): S3dbOptions & { runtime: SimRuntime } {
    const cfg = this.#sim.config
    return {
      localPath: this.path,
      migrations: migrations(this.level),
      autoCompact: cfg.autoCompact,
      gcGracePeriod: cfg.gracePeriodMs,
      readConsistency: this.staleMs > 0 ? { maxStalenessMs: this.staleMs } : 'strong',
      runtime: runtimeFor(this.#sim, this.name),
      onEvent: (e) => {
        if (e.type === 'rebuild' || e.type === 'error')
          this.#sim.world.log(
            `${this.name} event ${e.type} ${'reason' in e ? e.reason : ''}${'error' in e ? (e.error as Error).message : ''}`,
          )
      },
    }
  }

  /** Throws when the calling code belongs to a life of this client that crashed. */
  #assertAlive(): void {
    const life = simContext.getStore()?.life
    if (life?.name.startsWith(`${this.name}.`) && life !== this.life) throw new CrashedError()
  }

  /** The open instance, opening it (in the calling op's context) when needed. */
  ensureOpen(): Promise<S3db> {
    try {
      this.#assertAlive()
    } catch (err) {
      return Promise.reject(err)
    }
    if (this.db) return Promise.resolve(this.db)
    if (!this.opening) {
      const opening = S3db.open(this.#sim.store, PREFIX, this.options())
      this.opening = opening
      opening.then(
        (db) => {
          if (this.opening === opening) this.db = db
          this.opening = undefined
        },
        () => {
          if (this.opening === opening) this.opening = undefined
        },
      )
    }
    return this.opening
  }

  /** Graceful close (waits for in-flight work). */
  async close(): Promise<void> {
    this.#assertAlive()
    const db = this.db ?? (await this.opening?.catch(() => undefined))
    if (!db) return
    await db.close()
    if (this.db === db) this.db = undefined
  }

  /**
   * Crash: this life stops at once (its requests and timers never answer; what
   * it sent may still land); the next process starts on the replica files as
   * the crash left them on disk.
   */
  crash(): void {
    this.life.dead = true
    if (this.db) this.zombies.push(Promise.resolve(this.db))
    else if (this.opening) this.zombies.push(this.opening.catch(() => undefined))
    this.db = undefined
    this.opening = undefined
    const from = this.path
    this.generation++
    this.life = { name: `${this.name}.${this.generation}`, dead: false, reaping: false }
    this.path = this.#newPath()
    for (const suffix of ['', '-wal', '.s3db-position']) {
      if (existsSync(from + suffix)) copyFileSync(from + suffix, this.path + suffix)
    }
  }

  /** Runs `fn` as operation `op` of this client. */
  run<T>(op: number, fn: () => Promise<T>): Promise<T> {
    const ctx: Ctx = { client: this.name, op, life: this.life }
    return simContext.run(ctx, fn)
  }
}
