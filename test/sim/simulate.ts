/**
 * One simulated run: a seed draws the configuration (clients, skews, fault
 * rates) and the operations; the world runs them against the real engine;
 * then the store is calmed, every replica is read, and the checkers judge the
 * history.
 */
import { existsSync, mkdtempSync, rmSync, unlinkSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { S3db } from '@s3db/core'
import { checkBank } from './checkers/bank.ts'
import { checkConvergence, type ReplicaState } from './checkers/convergence.ts'
import { checkCounters } from './checkers/counters.ts'
import { checkErrors } from './checkers/errors.ts'
import { checkExactlyOnce } from './checkers/exactly-once.ts'
import { HygieneWatch } from './checkers/hygiene.ts'
import { checkListAppend } from './checkers/list-append.ts'
import { checkPastReads } from './checkers/past-reads.ts'
import { BANK_ACCOUNTS, BANK_START, migrations, PREFIX, runtimeFor, SimClient } from './clients.ts'
import type { History, OpRecord, Violation } from './history.ts'
import { HELD_BACK, type OpKind, type PlannedOp, planOps, startOp } from './operations.ts'
import { Prng } from './prng.ts'
import { type Dump, dumpWith, replay } from './replay.ts'
import { type Congestion, SimStore } from './store.ts'
import { EPOCH, type Life, simContext, World } from './world.ts'

export interface SimConfig {
  seed: number
  clients: number
  ops: number
  faultRate: number
  stall: number
  autoCompact: number | false
  gracePeriodMs: number
  /** Wall-clock skew per client (ms). */
  skews: number[]
  /** maxStalenessMs per client (0 = strong). */
  staleMs: number[]
  weights: Partial<Record<OpKind, number>>
  /** A timeout congests the client's path (profiles only; see {@link Congestion}). */
  congestion?: Congestion | undefined
  /** Chance that an op starts within 40 ms of the one before (bursts of contention). */
  burst: number
  /** The named profile the run uses, if any. */
  profile?: ProfileName | undefined
}

/**
 * Named profiles: an operation mix and network conditions aimed at one class
 * of bug, drawn on top of the seed's configuration (`--profile NAME`).
 */
export const PROFILES = {
  /**
   * Ambiguous commits: manifest CASes that time out while in flight, on a
   * client path that stays slow afterwards, so the decision read, the resend
   * and the late copy land in any order; writers and compactions (explicit and
   * automatic) dense enough to fold the late copy before the resend's answer
   * is decided. Aimed at "an ambiguous commit applied twice".
   */
  ambiguous: {
    weights: {
      txn: 16,
      ledger: 10,
      transfer: 4,
      read: 3,
      bankview: 2,
      check: 0,
      compact: 8,
      failcb: 0,
      fk: 0,
      ddl: 0,
      gc: 0,
      push: 0,
      go: 0,
      deploy: 0,
      close: 0,
      crash: 0,
      restore: 0,
      recreate: 0,
      rmlock: 0,
    },
    faultRate: 0.25,
    autoCompact: 2,
    congestion: { windowMs: 20_000, latencyMs: [100, 8_000] },
    burst: 0,
  },
  /**
   * Contention: bursts of writes from every client on the same manifest,
   * mostly point writes (which another client's commit may carry) among
   * list-append transactions, transfers and reads. Aimed at co-commit: an
   * offer carried twice, or carried and re-run, or an outcome misreported.
   */
  contention: {
    weights: {
      bump: 24,
      txn: 10,
      transfer: 4,
      ledger: 4,
      read: 3,
      check: 2,
      bankview: 2,
      compact: 2,
      gc: 1,
      crash: 1,
      close: 1,
      failcb: 0,
      fk: 0,
      ddl: 0,
      push: 0,
      go: 1,
      deploy: 0,
      restore: 0,
      recreate: 0,
      rmlock: 0,
    },
    faultRate: 0.08,
    autoCompact: 8,
    congestion: undefined,
    burst: 0.8,
  },
} satisfies Record<
  string,
  {
    weights: Partial<Record<OpKind, number>>
    faultRate: number
    autoCompact: number | false
    congestion: Congestion | undefined
    burst: number
  }
>

export type ProfileName = keyof typeof PROFILES

export interface SimOptions {
  /** A named profile ({@link PROFILES}); `weights` apply on top of its mix. */
  profile?: ProfileName | undefined
  /** Override the drawn number of operations. */
  ops?: number | undefined
  /** Override op weights (0 disables a kind). */
  weights?: Partial<Record<OpKind, number>> | undefined
  /** Patch Date.now, performance.now and Math.random too (engines without a runtime hook). */
  patchClocks?: boolean | undefined
  /** Also run the operation kinds held back for known engine bugs (HELD_BACK). */
  all?: boolean | undefined
  /** Only these planned ops run (shrinking); the rest are skipped. */
  keep?: ReadonlySet<number> | undefined
}

export interface SimStats {
  ops: number
  faults: number
  requests: number
  steps: number
  simSeconds: number
  wallMs: number
  statuses: Record<string, number>
  /** Calls of global clocks, Math.random and setTimeout from inside the simulation. */
  globalCalls: World['globalCalls']
}

export interface SimResult {
  seed: number
  config: SimConfig
  violations: Violation[]
  trace: string[]
  stats: SimStats
  history: History
  planned: PlannedOp[]
}

/** Draws a run's configuration from its seed. */
export function configFor(seed: number, options: SimOptions = {}): SimConfig {
  const rng = new Prng(`config:${seed}`)
  const clients = rng.int(3, 4)
  const drawn: SimConfig = {
    seed,
    clients,
    ops: options.ops ?? rng.int(30, 80),
    faultRate: rng.pick([0, 0.03, 0.08, 0.15, 0.25]),
    stall: rng.pick([0, 0.01, 0.03]),
    autoCompact: rng.pick([false, 4, 8, 16] as const),
    gracePeriodMs: rng.pick([0, 1_000, 30_000, 300_000]),
    skews: Array.from({ length: clients }, () =>
      rng.chance(0.4) ? rng.int(-200_000, 200_000) : rng.int(-2_000, 2_000),
    ),
    staleMs: Array.from({ length: clients }, (_, i) =>
      i === 0 || rng.chance(0.5) ? 0 : rng.pick([500, 2_000, 5_000]),
    ),
    weights: {
      ...(options.all ? {} : Object.fromEntries(Object.keys(HELD_BACK).map((k) => [k, 0]))),
      ...options.weights,
    },
    burst: rng.pick([0, 0, 0.2, 0.5]),
  }
  if (options.profile === undefined) return drawn
  const profile = PROFILES[options.profile]
  if (!profile) throw new Error(`unknown profile ${options.profile}: ${Object.keys(PROFILES)}`)
  return {
    ...drawn,
    faultRate: profile.faultRate,
    autoCompact: profile.autoCompact,
    congestion: profile.congestion,
    burst: profile.burst,
    profile: options.profile,
    weights: { ...profile.weights, ...drawn.weights },
  }
}

export class Sim {
  readonly world: World
  readonly store: SimStore
  readonly config: SimConfig
  readonly dir: string
  readonly clients: SimClient[] = []
  readonly history: History
  readonly hygiene: HygieneWatch
  segment = 0
  /** Highest migration level deployed so far. */
  level = 1
  readonly toolLife: Life = { name: 'tool', dead: false, reaping: false }
  readonly goLife: Life = { name: 'go', dead: false, reaping: false }
  readonly adminLife: Life = { name: 'admin', dead: false, reaping: false }
  /** When each client last crashed (sim time). */
  readonly crashedAt = new Map<string, number>()

  constructor(world: World, config: SimConfig, dir: string) {
    this.world = world
    this.config = config
    this.dir = dir
    this.store = new SimStore(world, `${PREFIX}manifest.json`, {
      rate: config.faultRate,
      stall: config.stall,
      congestion: config.congestion,
    })
    this.history = {
      ops: [],
      segments: [
        {
          index: 0,
          start: 0,
          initial: undefined,
          final: undefined,
          finalSchemaVersion: 0,
          recreated: true,
          startSeq: 0,
        },
      ],
      bankTotal: BANK_ACCOUNTS * BANK_START,
    }
    this.hygiene = new HygieneWatch(this.store, PREFIX)
    for (let i = 0; i < config.clients; i++) {
      world.skew.set(`c${i + 1}`, config.skews[i]!)
      this.clients.push(new SimClient(this, i + 1, config.staleMs[i]!))
    }
  }

  /** The store's current state replayed with plain SQLite (no network). */
  replayNow() {
    return replay((k) => this.store.peek(k)?.body, this.store.manifestKey, PREFIX)
  }

  /** Ends the current segment of the history (the operator is about to rewrite it). */
  #boundary(): void {
    const seg = this.history.segments.at(-1)!
    const r = this.replayNow()
    seg.final = r.ok && !seg.unchecked ? r.dump : undefined
    seg.finalSchemaVersion = r.ok ? r.schemaVersion : 0
    seg.finalError = seg.unchecked ?? (r.ok ? undefined : r.error)
    for (const o of this.history.ops) if (o.status === 'pending') o.straddles = true
    // Writes still on their way, and offers a later commit may still carry.
    // A write is attributed to every op its client had pending when it was sent
    // (a group commit sends one batch for several ops).
    const late = [...this.store.writesInFlight(), ...this.store.offers]
    for (const o of this.history.ops)
      if (
        late.some(
          (w) => w.client === o.client && o.start <= w.sentAt && (o.end ?? Infinity) >= w.sentAt,
        )
      )
        o.landsLater = true
    this.segment++
  }

  /**
   * Starts a segment for an engine restore (an undo) about to publish: the
   * state it starts from is set once the restore's outcome is known
   * ({@link undoSettled}). See history-ops.ts.
   */
  beginUndoSegment(): number {
    this.#boundary()
    // During an operator's re-create the tables are still absent.
    this.#beginSegment((r) => !r.ok || r.schemaVersion < 1)
    return this.segment
  }

  /**
   * The undo that began segment `index` landed: the segment starts from the
   * restored state at `seq`. If another boundary ended the segment meanwhile,
   * its start is unknown, and the undo rewrote the segment it landed in: both
   * are left unchecked.
   */
  undoSettled(index: number, initial: Dump | undefined, seq: number): void {
    const seg = this.history.segments[index]!
    if (index !== this.segment) {
      seg.final = undefined
      seg.finalError = 'an undo landed in a segment another boundary ended'
      this.history.segments[this.segment]!.unchecked =
        `the undo that began segment ${index} landed in it`
      return
    }
    seg.initial = initial
    seg.startSeq = seq
    // Bounded-stale ops may see the state before the undo until it landed.
    seg.start = this.world.now
  }

  /** Starts the next segment from the store's state now (after a {@link #boundary}). */
  #beginSegment(recreated: (r: ReturnType<Sim['replayNow']>) => boolean): void {
    const r = this.replayNow()
    this.history.segments.push({
      index: this.segment,
      start: this.world.now,
      initial: r.ok ? r.dump : undefined,
      final: undefined,
      finalSchemaVersion: 0,
      recreated: recreated(r),
      startSeq: r.ok ? r.seq : undefined,
    })
  }

  /** Operator: put back an older manifest.json whose objects all still exist. */
  operatorRestore(): string {
    const mkey = this.store.manifestKey
    const candidates = this.store.manifestHistory.slice(-8, -1).filter((m) => {
      const r = replay((k) => (k === mkey ? m.body : this.store.peek(k)?.body), mkey, PREFIX)
      return r.ok && r.schemaVersion >= 1
    })
    if (candidates.length === 0) return 'nothing to restore'
    const chosen = this.world.rng.pick(candidates)
    this.#boundary()
    this.store.poke(mkey, chosen.body, 'operator')
    this.#beginSegment(() => false)
    return `restored the manifest of t=${chosen.at - EPOCH}`
  }

  /**
   * Operator: delete the database's objects; an admin re-creates it with the
   * migrations. The operator first waits until no write sent before it
   * decided is still on its way (at most 2 min): a write landing after the
   * deletion could re-create the deleted manifest without its objects, which
   * no client can prevent (docs/GUARANTEES.md, "Deleting a database").
   */
  async operatorRecreate(): Promise<string> {
    // One operator at a time: a second deletion while the admin re-creates the
    // database would be deleting under a live writer.
    const turn = this.#operatorTurn.then(() => this.#recreate())
    this.#operatorTurn = turn.catch(() => {})
    return turn
  }

  #operatorTurn: Promise<unknown> = Promise.resolve()

  async #recreate(): Promise<string> {
    const decided = this.world.now
    while (this.store.writesInFlightSentBy(decided) && this.world.now - decided < 120_000)
      await this.world.sleep(250)
    const waited = this.world.now - decided
    // A create already under way can land over the deletion (the documented
    // hazard): the operator sees the admin's create fail on it and deletes again.
    let deletions = 0
    for (;;) {
      this.#boundary()
      deletions++
      this.#deleteDatabase()
      try {
        await this.createAsAdmin()
        break
      } catch (err) {
        if (deletions >= 3 || !this.hygiene.createdOverDeletion()) throw err
      }
    }
    return `deleted the database${deletions > 1 ? ` ${deletions} times (a create landed over the deletion)` : ''} after waiting ${waited} ms for writes in flight; re-created by the admin`
  }

  /** The operator deletes the database's objects; a new history segment starts. */
  #deleteDatabase(): void {
    this.store.remove(this.store.manifestKey, 'operator')
    for (const key of this.store.keys()) {
      const rel = key.slice(PREFIX.length)
      if (
        key.startsWith(PREFIX) &&
        (rel === 'manifest.json' ||
          /^snapshots\/snap-[^/]+\.sqlite$/.test(rel) ||
          /^changesets\/[^/]+\/cs-[^/]+\.bin$/.test(rel))
      )
        this.store.remove(key, 'operator')
    }
    this.history.segments.push({
      index: this.segment,
      start: this.world.now,
      initial: undefined,
      final: undefined,
      finalSchemaVersion: 0,
      recreated: true,
      startSeq: 0,
    })
  }

  /** Opens (creating) the database with the deployed migrations, then closes it. */
  async createAsAdmin(): Promise<void> {
    const dir = mkdtempSync(join(this.dir, 'admin-'))
    const db = await S3db.open(this.store, PREFIX, {
      localPath: join(dir, 'replica.sqlite'),
      migrations: migrations(this.level),
      runtime: runtimeFor(this, 'admin'),
    } as never)
    await db.close()
  }

  /** Operator: delete a client's replica lock file (as a cleanup script might). */
  removeLockFile(c: SimClient): void {
    const lock = `${c.path}.lock`
    if (existsSync(lock)) unlinkSync(lock)
  }

  /** Runs the world until `p` settles (or sim time passes `limitMs` more). */
  async drive<T>(p: Promise<T>, limitMs = 30 * 60_000): Promise<T | undefined> {
    let settled = false
    let value: T | undefined
    let error: unknown
    let failed = false
    p.then(
      (v) => {
        settled = true
        value = v
      },
      (e) => {
        settled = true
        failed = true
        error = e
      },
    )
    await this.world.run(() => settled, this.world.now + limitMs)
    if (!settled) return undefined
    if (failed) throw error
    return value
  }
}

const retentionFixture = new TextEncoder().encode(JSON.stringify({ retain_ms: 30 * 86_400_000 }))

/** Dumps a database through a view. */
function dumpLive(db: S3db): Promise<Dump> {
  return db.view((tx) => dumpWith((sql) => tx.all(sql)))
}

/** Runs one seed. */
export async function simulate(seed: number, options: SimOptions = {}): Promise<SimResult> {
  const wallStart = Date.now()
  let checkerOp = 1_000_000
  const config = configFor(seed, options)
  const world = new World(seed)
  const undo = world.install(options.patchClocks ?? false)
  const dir = mkdtempSync(join(tmpdir(), `s3db-sim-${seed}-`))
  const sim = new Sim(world, config, dir)
  const violations: Violation[] = []
  const planned = planOps(
    new Prng(`ops:${seed}`),
    config.ops,
    config.clients,
    config.weights,
    config.burst,
  )
  try {
    world.log(
      `seed ${seed}${config.profile ? ` (profile ${config.profile})` : ''}: ${config.clients} clients, ${config.ops} ops, faults ${config.faultRate} stall ${config.stall}, autoCompact ${config.autoCompact}, grace ${config.gracePeriodMs}, skews ${config.skews.join(',')}, stale ${config.staleMs.join(',')}`,
    )
    sim.hygiene.sentinel('sim/other/keep.txt', 'another application')
    // The deployment keeps 30 days of history (the history ops read, restore
    // and branch past states; every client's gc honours it).
    sim.store.poke(`${PREFIX}history/retention.json`, retentionFixture, 'world')
    sim.hygiene.sentinel('sim/db-other/manifest.json', 'a neighbouring prefix')
    sim.hygiene.sentinel(`${PREFIX}notes.txt`, 'an operator note inside the database folder')
    sim.hygiene.sentinel(`${PREFIX}snapshots/README.txt`, 'not a snapshot s3db named')
    for (const p of planned) {
      if (options.keep && !options.keep.has(p.id)) continue
      world.at(EPOCH + p.at, () => startOp(sim, p))
    }
    const started = () => sim.history.ops.length >= (options.keep?.size ?? planned.length)
    const settled = () => started() && sim.history.ops.every((o) => o.status !== 'pending')
    const lastAt = EPOCH + (planned.at(-1)?.at ?? 0)
    await world.run(settled, lastAt + 15 * 60_000)
    // Calm: no more faults; let whatever can finish, finish.
    sim.store.profile = { rate: 0, stall: 0 }
    world.log('calm: faults off')
    await world.run(settled, world.now + 15 * 60_000)
    for (const o of sim.history.ops) {
      if (o.status !== 'pending') continue
      const crashed = (sim.crashedAt.get(o.client) ?? -1) >= o.start
      o.status = 'info'
      o.note = crashed ? 'never answered (its process crashed)' : 'never answered'
      if (!crashed)
        violations.push({
          checker: 'liveness',
          message: `op ${o.id} (${o.kind}) on ${o.client} never finished, with faults off and no crash`,
          ops: [o.id],
        })
    }
    // The operator deleted the database and its re-creation never happened: do it now.
    if (!sim.store.peek(sim.store.manifestKey)) {
      world.log('no database at the end: the admin creates it')
      await sim
        .drive(
          simContext.run({ client: 'admin', op: checkerOp++, life: sim.adminLife }, () =>
            sim.createAsAdmin(),
          ),
        )
        .catch((err: Error) =>
          violations.push({
            checker: 'liveness',
            message: `re-creating the database failed: ${err.message}`,
            ops: [],
          }),
        )
    }
    // Past every client's staleness window, so that a view must look at the store.
    await sim.drive(
      simContext.run({ client: 'check', op: checkerOp++, life: sim.adminLife }, () =>
        world.sleep(Math.max(0, ...config.staleMs) + 1),
      ),
    )
    const replicas: ReplicaState[] = []
    // Live replicas (synced by a strong view), then closed.
    for (const c of sim.clients) {
      if (!c.db && !c.opening) continue
      const op = checkerOp++
      try {
        const dump = await sim.drive(
          c.run(op, async () => {
            const db = await c.ensureOpen()
            return dumpLive(db)
          }),
        )
        replicas.push({ name: `live ${c.name}`, dump, error: dump ? undefined : 'no answer' })
        await sim.drive(c.run(op, () => c.close()))
      } catch (err) {
        replicas.push({ name: `live ${c.name}`, error: (err as Error).message })
        await sim.drive(c.run(op, () => c.close())).catch(() => {})
      }
    }
    // Crashed processes wind down (their requests now fail at once), releasing their files.
    world.reap()
    for (const c of sim.clients)
      for (const z of c.zombies) {
        await sim
          .drive(
            simContext.run(
              { client: c.name, op: checkerOp++, life: { name: 'z', dead: false, reaping: true } },
              () => z.then((db) => db?.close()),
            ),
            60_000,
          )
          .catch(() => {})
      }
    // Every localPath reopened, plus a fresh rebuild.
    const paths = sim.clients.flatMap((c) =>
      c.paths.map((p, i) => ({ name: `reopened ${c.name} path ${i}`, path: p })),
    )
    paths.push({
      name: 'fresh rebuild',
      path: join(mkdtempSync(join(dir, 'fresh-')), 'replica.sqlite'),
    })
    for (const { name, path } of paths) {
      const life: Life = { name: `check${checkerOp}`, dead: false, reaping: false }
      try {
        const dump = await sim.drive(
          simContext.run({ client: 'check', op: checkerOp++, life }, async () => {
            const db = await S3db.open(sim.store, PREFIX, {
              localPath: path,
              createIfMissing: false,
              runtime: runtimeFor(sim, 'check'),
            } as never)
            try {
              return await dumpLive(db)
            } finally {
              await db.close()
            }
          }),
        )
        replicas.push({ name, dump, error: dump ? undefined : 'no answer' })
      } catch (err) {
        replicas.push({ name, error: `${(err as Error).name}: ${(err as Error).message}` })
      }
    }
    const oracle = sim.replayNow()
    const last = sim.history.segments.at(-1)!
    last.final = oracle.ok && !last.unchecked ? oracle.dump : undefined
    last.finalSchemaVersion = oracle.ok ? oracle.schemaVersion : 0
    last.finalError = last.unchecked ?? (oracle.ok ? undefined : oracle.error)
    violations.push(
      ...checkListAppend(sim.history),
      ...checkBank(sim.history),
      ...checkCounters(sim.history),
      ...checkExactlyOnce(sim.history),
      ...checkErrors(sim.history),
      ...checkPastReads(sim.history),
      ...checkConvergence(oracle, replicas),
      ...sim.hygiene.violations(),
    )
  } finally {
    undo()
    rmSync(dir, { recursive: true, force: true })
  }
  const faults = Object.entries(sim.store.faults)
    .filter(([k]) => k !== 'none')
    .reduce((n, [, v]) => n + v, 0)
  const statuses: Record<string, number> = {}
  for (const o of sim.history.ops) statuses[o.status] = (statuses[o.status] ?? 0) + 1
  return {
    seed,
    config,
    violations,
    trace: world.trace,
    history: sim.history,
    planned,
    stats: {
      ops: sim.history.ops.length,
      faults,
      requests: sim.store.requests,
      steps: world.steps,
      simSeconds: Math.round((world.now - EPOCH) / 1000),
      wallMs: Date.now() - wallStart,
      statuses,
      globalCalls: { ...world.globalCalls },
    },
  }
}

export type { OpRecord }
