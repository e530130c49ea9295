/**
 * The deterministic world: one simulated clock, one event queue, and a
 * scheduler that advances them only when the process is quiescent.
 *
 * The engine runs for real (better-sqlite3, real replica files). Its only
 * nondeterminism is the order in which real file I/O completes. The scheduler
 * makes that irrelevant: it delivers a store response or fires a timer only
 * when no client can run (every pending piece of client work waits on a
 * simulated request or timer, and no real I/O is in flight), and it orders the
 * work registered since the previous step canonically (by client, operation and
 * request), not by the order in which real I/O happened to let it register.
 */
import { AsyncLocalStorage } from 'node:async_hooks'
import { AbortedError } from '@s3db/core'
import { Prng } from './prng.ts'

/** One incarnation of a client process; `dead` once it crashed. */
export interface Life {
  readonly name: string
  dead: boolean
  /** Set when a dead incarnation is being wound down after the run: its requests fail at once. */
  reaping: boolean
}

/** Who is running: a client (or tool) and the operation it works on. */
export interface Ctx {
  client: string
  op: number
  life: Life
}

/** The context of the code now running (propagates through awaits and timers). */
export const simContext = new AsyncLocalStorage<Ctx>()

interface SimEvent {
  due: number
  order: number
  life: Life | undefined
  fire(): void
}

interface Fresh {
  key: string
  assign(): void
}

/** Sim time starts here (a plausible epoch time; clients' wall clocks are skewed from it). */
export const EPOCH = 1_700_000_000_000

const realSetTimeout = globalThis.setTimeout
const realClearTimeout = globalThis.clearTimeout
const realDateNow = Date.now
const realPerformanceNow = performance.now.bind(performance)
const realRandom = Math.random

let current: World | undefined

const CROCKFORD = '0123456789ABCDEFGHJKMNPQRSTVWXYZ'
function base32(n: number, width: number): string {
  let out = ''
  for (let i = 0; i < width; i++) {
    out = CROCKFORD[n % 32] + out
    n = Math.floor(n / 32)
  }
  return out
}

/** A timer handle for code that calls the global setTimeout inside the simulation. */
class SimTimeout {
  cancelled = false
  readonly id: number
  constructor(id: number) {
    this.id = id
  }
  ref(): this {
    return this
  }
  unref(): this {
    return this
  }
  hasRef(): boolean {
    return true
  }
  refresh(): this {
    return this
  }
  close(): this {
    this.cancelled = true
    return this
  }
  [Symbol.toPrimitive](): number {
    return this.id
  }
}

export class World {
  readonly seed: number
  now = EPOCH
  /** The scheduler's own stream: latencies, faults, choices. */
  readonly rng: Prng
  readonly trace: string[] = []
  /** Clock skew of each client's wall clock (ms). */
  readonly skew = new Map<string, number>()
  steps = 0
  /** Calls of the global clocks and Math.random from inside the simulation (code the runtime hook misses). */
  readonly globalCalls = { dateNow: 0, performanceNow: 0, random: 0, setTimeout: 0 }
  #queue: SimEvent[] = []
  #fresh: Fresh[] = []
  #order = 0
  #activity = 0
  #zombies: SimEvent[] = []
  /** Set by {@link reap}: from then on no event of a crashed incarnation is held. */
  #reaped = false
  readonly #streams = new Map<string, Prng>()
  readonly #idCounters = new Map<string, number>()
  #timerIds = 0

  constructor(seed: number) {
    this.seed = seed
    this.rng = new Prng(`world:${seed}`)
  }

  /** Appends a line to the trace, stamped with sim time. */
  log(line: string): void {
    this.trace.push(`${String(this.now - EPOCH).padStart(8)} ${line}`)
  }

  /** Something observable happened (a promise settled): the process is not quiescent yet. */
  bump(): void {
    this.#activity++
  }

  /**
   * Registers work started by client code (a request, a timer). It is ordered
   * and timed at the next quiescent point, in canonical order.
   */
  register(key: string, assign: () => void): void {
    const ctx = simContext.getStore()
    this.#activity++
    this.#fresh.push({
      key: `${ctx?.client ?? '-'}|${String(ctx?.op ?? 0).padStart(6, '0')}|${key}`,
      assign,
    })
  }

  /** Schedules `fire` at sim time `due`. Events of a crashed incarnation are held back. */
  at(due: number, fire: () => void, life?: Life): void {
    const ev: SimEvent = {
      due: Math.max(Math.ceil(due), this.now),
      order: this.#order++,
      life,
      fire,
    }
    const q = this.#queue
    let lo = 0
    let hi = q.length
    while (lo < hi) {
      const mid = (lo + hi) >> 1
      const m = q[mid]!
      if (m.due < ev.due || (m.due === ev.due && m.order < ev.order)) lo = mid + 1
      else hi = mid
    }
    q.splice(lo, 0, ev)
  }

  /** Resolves after `ms` of sim time (rejects with AbortedError when `signal` aborts). */
  sleep(ms: number, signal?: AbortSignal): Promise<void> {
    return new Promise((resolve, reject) => {
      if (signal?.aborted) {
        reject(new AbortedError())
        return
      }
      const life = simContext.getStore()?.life
      let done = false
      const onAbort = () => {
        if (done) return
        done = true
        this.bump()
        reject(new AbortedError())
      }
      signal?.addEventListener('abort', onAbort, { once: true })
      this.register(`sleep ${Math.round(ms)}`, () => {
        this.at(
          this.now + Math.max(0, ms),
          () => {
            if (done) return
            done = true
            signal?.removeEventListener('abort', onAbort)
            resolve()
          },
          life,
        )
      })
    })
  }

  /** The random stream of the running context (client + operation): order-independent across contexts. */
  random(): number {
    const ctx = simContext.getStore()
    const name = ctx ? `${ctx.life.name}:${ctx.op}` : '-'
    let s = this.#streams.get(name)
    if (!s) {
      s = new Prng(`rand:${this.seed}:${name}`)
      this.#streams.set(name, s)
    }
    return s.next()
  }

  /** A client's wall clock. */
  clientNow(client: string | undefined): number {
    return this.now + (client ? (this.skew.get(client) ?? 0) : 0)
  }

  /** A unique, time-sortable id (ULID-shaped) made of the context's clock and counters. */
  newId(): string {
    const ctx = simContext.getStore()
    const name = ctx ? `${ctx.life.name}:${ctx.op}` : '-'
    const n = (this.#idCounters.get(name) ?? 0) + 1
    this.#idCounters.set(name, n)
    const t = Math.floor(this.clientNow(ctx?.client))
    const who = ctx ? Number.parseInt(ctx.life.name.replace(/\D/g, '') || '0', 10) : 0
    return base32(t, 10) + base32(who, 4) + base32(ctx?.op ?? 0, 6) + base32(n, 6)
  }

  /**
   * Waits until the process is quiescent: microtasks drained, no real file
   * I/O in flight, and nothing new registered for two event-loop turns.
   */
  async quiesce(): Promise<void> {
    let stable = 0
    let spins = 0
    while (stable < 2) {
      const mark = this.#activity
      if (spins++ > 64) await new Promise<void>((r) => realSetTimeout(r, 1))
      else await new Promise<void>((r) => setImmediate(r))
      if (pendingIo() > 0 || this.#activity !== mark) stable = 0
      else stable++
    }
  }

  #assign(): void {
    if (this.#fresh.length === 0) return
    const fresh = this.#fresh.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0))
    this.#fresh = []
    for (const f of fresh) f.assign()
  }

  /**
   * Runs the world until `done()` holds, nothing is left to happen, or sim time
   * would pass `until`. Returns why it stopped.
   */
  async run(done: () => boolean, until: number): Promise<'done' | 'idle' | 'limit'> {
    for (;;) {
      await this.quiesce()
      this.#assign()
      if (done()) return 'done'
      const ev = this.#queue[0]
      if (!ev) return 'idle'
      if (ev.due > until) return 'limit'
      this.#queue.shift()
      if (ev.life?.dead && !ev.life.reaping) {
        if (!this.#reaped) {
          this.#zombies.push(ev)
          continue
        }
        ev.life.reaping = true
      }
      if (ev.due > this.now) this.now = ev.due
      this.steps++
      ev.fire()
    }
  }

  /**
   * Lets crashed incarnations wind down: their held events fire (requests fail
   * at once), and so do their events that come due later (a sleep of a crashed
   * process that outlives the run).
   */
  reap(): void {
    this.#reaped = true
    for (const ev of this.#zombies.splice(0)) {
      if (ev.life) ev.life.reaping = true
      this.at(this.now, ev.fire, ev.life)
    }
  }

  /** Sets a timer for code calling the global setTimeout inside the simulation. */
  timer(fn: (...args: unknown[]) => void, ms: number, args: unknown[]): SimTimeout {
    const handle = new SimTimeout(++this.#timerIds)
    const life = simContext.getStore()?.life
    this.register(`timer ${Math.round(ms)}`, () => {
      this.at(
        this.now + Math.max(0, ms || 0),
        () => {
          if (handle.cancelled) return
          handle.cancelled = true
          fn(...args)
        },
        life,
      )
    })
    return handle
  }

  /**
   * Routes the process's timers (and, for engines without a runtime hook, its
   * clocks and Math.random) inside sim contexts to this world. Returns the undo.
   */
  install(patchClocks: boolean): () => void {
    if (current) throw new Error('another simulated world is installed')
    current = this
    const g = globalThis as unknown as Record<string, unknown>
    g.setTimeout = (fn: (...a: unknown[]) => void, ms?: number, ...args: unknown[]) => {
      if (!current || !simContext.getStore()) return realSetTimeout(fn, ms, ...args)
      current.globalCalls.setTimeout++
      return current.timer(fn, ms ?? 0, args)
    }
    g.clearTimeout = (h: unknown) => {
      if (h instanceof SimTimeout) {
        h.cancelled = true
        current?.bump()
      } else realClearTimeout(h as NodeJS.Timeout)
    }
    // Inside the simulation, the global clocks are the world's (the client's skewed
    // wall clock) and Math.random is the context's stream. The engine should take
    // all of them from its runtime hook; calls are counted so that gaps show.
    // With `patchClocks` false, Date.now and performance.now stay real (only counted).
    Date.now = () => {
      const ctx = simContext.getStore()
      if (!current || !ctx) return realDateNow()
      current.globalCalls.dateNow++
      return patchClocks ? current.clientNow(ctx.client) : realDateNow()
    }
    performance.now = () => {
      if (!current || !simContext.getStore()) return realPerformanceNow()
      current.globalCalls.performanceNow++
      return patchClocks ? current.now - EPOCH : realPerformanceNow()
    }
    Math.random = () => {
      if (!current || !simContext.getStore()) return realRandom()
      current.globalCalls.random++
      return current.random()
    }
    return () => {
      g.setTimeout = realSetTimeout
      g.clearTimeout = realClearTimeout
      Date.now = realDateNow
      performance.now = realPerformanceNow
      Math.random = realRandom
      current = undefined
    }
  }
}

/** Real file-system requests in flight in this process. */
function pendingIo(): number {
  let n = 0
  for (const r of process.getActiveResourcesInfo())
    if (r.startsWith('FSReq') || r.endsWith('CloseReq')) n++
  return n
}
