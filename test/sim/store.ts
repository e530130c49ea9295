/**
 * The simulated object store: S3's semantics (content-MD5 ETags, atomic
 * conditional PUT, list in key order, the store's clock in every answer),
 * reached over a simulated network whose requests are delayed and reordered,
 * fail before or after applying, land after the client gave up, or return
 * truncated bodies. Every request is an event of the {@link World}.
 */
import { createHash } from 'node:crypto'
import type {
  BlobData,
  BlobInfo,
  BlobStore,
  BlobStream,
  CallOptions,
  GetOptions,
  ListEntry,
  NotModified,
  PutBody,
  PutOptions,
} from '@s3db/core'
import {
  AbortedError,
  NotFoundError,
  PreconditionFailedError,
  StoreUnavailableError,
} from '@s3db/core'
import { type Life, simContext, type World } from './world.ts'

interface StoredObject {
  body: Uint8Array
  etag: string
  /** Sim time of the PUT that wrote it. */
  modified: number
  /** Who wrote it (client name). */
  writer: string
}

/** What happens to one request. */
export type Fault =
  | 'none'
  /** Fails before reaching the store: not applied. */
  | 'before'
  /** Applied, but the answer is an error. */
  | 'after'
  /** The client gives up (timeout); the request lands later, or never. */
  | 'late'
  /** A conditional PUT answered 409 ConditionalRequestConflict: not applied. */
  | 'conflict'
  /** A read whose body is cut off half way. */
  | 'truncate'

/** How unreliable the network is in one run. */
export interface FaultProfile {
  /** Probability that a request gets a fault. */
  rate: number
  /** Probability of a long stall (seconds to minutes) on a request. */
  stall: number
  /**
   * When set, a timeout congests the client's path: for `windowMs` after one of
   * its requests timed out, its requests (and the late copy of the one that
   * timed out) take `latencyMs` (uniform) to reach the store. Off by default
   * (draws nothing from the seed's stream), on in the 'ambiguous' profile.
   */
  congestion?: Congestion | undefined
}

/** A client's network path after a timeout: slow for a while. */
export interface Congestion {
  windowMs: number
  latencyMs: readonly [number, number]
}

/** A write a client sent (sim time). */
export interface Sent {
  client: string
  sentAt: number
}

/** A mutation the store applied, for the hygiene checker. */
export interface Mutation {
  at: number
  client: string
  kind: 'put' | 'delete'
  key: string
}

export class SimStore implements BlobStore {
  readonly #world: World
  readonly #objects = new Map<string, StoredObject>()
  /** Every manifest body ever written, in order (the operator may restore one). */
  readonly manifestHistory: { at: number; body: Uint8Array }[] = []
  readonly mutations: Mutation[] = []
  readonly manifestKey: string
  profile: FaultProfile
  /** Faults injected, by kind. */
  readonly faults: Record<Fault, number> = {
    none: 0,
    before: 0,
    after: 0,
    late: 0,
    conflict: 0,
    truncate: 0,
  }
  requests = 0
  /**
   * Writes sent that will still land (late copies included): the client that
   * sent them, and when.
   */
  readonly #writesInFlight = new Set<Sent>()

  /** Writes on their way to the store that will still land. */
  writesInFlight(): Sent[] {
    return [...this.#writesInFlight]
  }

  /**
   * Changesets offered to other clients (co-commit), by whom and when: another
   * client may carry one in any commit over the manifest it was made on, which
   * an operator's restore of that manifest makes current again.
   */
  readonly offers: Sent[] = []

  /** Whether a write sent at or before `t` has yet to land. */
  writesInFlightSentBy(t: number): boolean {
    for (const w of this.#writesInFlight) if (w.sentAt <= t) return true
    return false
  }
  /** Until when each client's path is congested (sim time; see {@link Congestion}). */
  readonly #congestedUntil = new Map<string, number>()
  /** Called after every applied mutation (the hygiene checker watches references). */
  onMutation: ((m: Mutation) => void) | undefined

  constructor(world: World, manifestKey: string, profile: FaultProfile) {
    this.#world = world
    this.manifestKey = manifestKey
    this.profile = profile
  }

  // ---- direct access (the world, the operator and the checkers; no network) ----

  peek(key: string): StoredObject | undefined {
    return this.#objects.get(key)
  }

  keys(): string[] {
    return [...this.#objects.keys()].sort()
  }

  /** Writes directly, as the named actor (operator actions, fixtures). */
  poke(key: string, body: Uint8Array, who: string): void {
    this.#apply({ at: this.#world.now, client: who, kind: 'put', key }, () =>
      this.#objects.set(key, this.#object(body, who)),
    )
  }

  /** Deletes directly, as the named actor. */
  remove(key: string, who: string): void {
    if (!this.#objects.has(key)) return
    this.#apply({ at: this.#world.now, client: who, kind: 'delete', key }, () =>
      this.#objects.delete(key),
    )
  }

  // ---- BlobStore over the simulated network ----

  get(key: string, options: GetOptions = {}): Promise<BlobData | NotModified> {
    const cond = options.ifNoneMatch ? ` ifNoneMatch=${options.ifNoneMatch.slice(0, 6)}` : ''
    const range = options.range ? ` range=${options.range.start}-${options.range.end ?? ''}` : ''
    return this.#send('GET', key, cond + range, options.signal, 'read', () =>
      this.#read(key, options),
    )
  }

  async getStream(key: string, options: GetOptions = {}): Promise<BlobStream | NotModified> {
    let cut = false
    const res = await this.#send('GETS', key, '', options.signal, 'stream', () => {
      const r = this.#read(key, options)
      return r
    }).catch((err: unknown) => {
      if (err instanceof TruncatedBody) {
        cut = true
        return err.data
      }
      throw err
    })
    if (res.notModified) return res
    const { body, ...info } = res
    const half = Math.floor(body.byteLength / 2)
    const truncated = cut
    return {
      ...info,
      body: (async function* () {
        if (!truncated) {
          yield body
          return
        }
        if (half > 0) yield body.subarray(0, half)
        throw new StoreUnavailableError(`sim: body of ${key} cut off after ${half} bytes`, {
          maybeApplied: false,
        })
      })(),
    }
  }

  stat(key: string, options: CallOptions = {}): Promise<BlobInfo> {
    return this.#send('HEAD', key, '', options.signal, 'read', (at) => {
      const o = this.#objects.get(key)
      if (!o) throw new NotFoundError(key)
      return {
        etag: o.etag,
        size: o.body.byteLength,
        lastModified: new Date(o.modified),
        storeTime: new Date(at),
      }
    })
  }

  async put(key: string, body: PutBody, options: PutOptions = {}): Promise<{ etag: string }> {
    const bytes = await bodyOf(body)
    const conditional = options.ifMatch !== undefined || options.ifNoneMatch === true
    const cond =
      options.ifMatch !== undefined
        ? ` ifMatch=${options.ifMatch.slice(0, 6)}`
        : options.ifNoneMatch
          ? ' ifNoneMatch'
          : ''
    const who = simContext.getStore()?.client ?? '-'
    return this.#send(
      'PUT',
      key,
      `${cond} ${md5(bytes).slice(0, 6)}`,
      options.signal,
      conditional ? 'cas' : 'write',
      (at) => {
        const current = this.#objects.get(key)
        if (options.ifNoneMatch && current) throw new PreconditionFailedError(key)
        if (options.ifMatch !== undefined && current?.etag !== options.ifMatch.replaceAll('"', ''))
          throw new PreconditionFailedError(key)
        const o = this.#object(bytes, who)
        this.#apply({ at, client: who, kind: 'put', key }, () => this.#objects.set(key, o))
        return { etag: o.etag }
      },
    )
  }

  async *list(prefix: string, options: CallOptions = {}): AsyncIterable<ListEntry> {
    const entries = await this.#send('LIST', prefix, '', options.signal, 'read', () =>
      [...this.#objects.entries()]
        .filter(([k]) => k.startsWith(prefix))
        .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
        .map(([k, o]) => ({
          key: k,
          size: o.body.byteLength,
          etag: o.etag,
          lastModified: new Date(o.modified),
        })),
    )
    yield* entries
  }

  delete(key: string, options: CallOptions = {}): Promise<void> {
    return this.deleteMany([key], options)
  }

  deleteMany(keys: readonly string[], options: CallOptions = {}): Promise<void> {
    const who = simContext.getStore()?.client ?? '-'
    const label = keys.length === 1 ? keys[0]! : `${keys[0]}+${keys.length - 1}`
    return this.#send('DEL', label, '', options.signal, 'write', (at) => {
      for (const key of keys) {
        if (!this.#objects.has(key)) continue
        this.#apply({ at, client: who, kind: 'delete', key }, () => this.#objects.delete(key))
      }
    })
  }

  async deletePrefix(prefix: string, options: CallOptions = {}): Promise<number> {
    const keys: string[] = []
    for await (const e of this.list(prefix, options)) keys.push(e.key)
    if (keys.length > 0) await this.deleteMany(keys, options)
    return keys.length
  }

  // ---- internals ----

  #object(body: Uint8Array, writer: string): StoredObject {
    return { body: Uint8Array.from(body), etag: md5(body), modified: this.#world.now, writer }
  }

  #apply(m: Mutation, change: () => void): void {
    change()
    this.mutations.push(m)
    if (m.kind === 'put' && m.key === this.manifestKey) {
      this.manifestHistory.push({ at: m.at, body: this.#objects.get(m.key)!.body })
    }
    this.onMutation?.(m)
  }

  #read(key: string, options: GetOptions): BlobData | NotModified {
    const o = this.#objects.get(key)
    if (!o) throw new NotFoundError(key)
    const storeTime = new Date(this.#world.now)
    if (options.ifNoneMatch !== undefined && options.ifNoneMatch.replaceAll('"', '') === o.etag)
      return { notModified: true, etag: o.etag }
    const size = o.body.byteLength
    const start = Math.min(options.range?.start ?? 0, size)
    const end = Math.min(options.range?.end ?? size, size)
    return {
      notModified: false,
      etag: o.etag,
      size,
      lastModified: new Date(o.modified),
      storeTime,
      body: o.body.slice(start, Math.max(start, end)),
    }
  }

  /** Draws a request's fault (or none). */
  #drawFault(kind: 'read' | 'stream' | 'write' | 'cas'): Fault {
    const rng = this.#world.rng
    if (!rng.chance(this.profile.rate)) return 'none'
    const options: Fault[] =
      kind === 'cas'
        ? ['before', 'after', 'late', 'conflict']
        : kind === 'write'
          ? ['before', 'after', 'late']
          : ['before', 'truncate', 'late']
    return rng.pick(options)
  }

  /** Draws what happens to a request (at the quiescent point that orders it). */
  #plan(
    kind: 'read' | 'stream' | 'write' | 'cas',
    client: string,
  ): {
    fault: Fault
    applyAt: number
    respondAt: number
  } {
    if (this.profile.congestion) return this.#planCongested(kind, client, this.profile.congestion)
    const rng = this.#world.rng
    const now = this.#world.now
    const latency = () =>
      rng.chance(this.profile.stall) ? rng.int(1_000, 90_000) : rng.int(1, 20) + rng.int(0, 20)
    const fault = this.#drawFault(kind)
    const applyAt = now + latency()
    let respondAt = applyAt + rng.int(1, 15)
    // A late request: the client gives up first (timeout); it lands after that, or never.
    if (fault === 'late') respondAt = now + rng.int(1, 30)
    // Late requests mostly land just after the client gave up, some much later.
    const delayApply =
      fault === 'late' ? (rng.chance(0.5) ? rng.int(1, 200) : rng.int(1, 40_000)) : 0
    return { fault, applyAt: fault === 'late' ? respondAt + delayApply : applyAt, respondAt }
  }

  /**
   * {@link #plan} with congestion: the same faults, but a timeout slows the
   * client's path for a while, so its decision read, its resend and the late
   * copy of its timed-out request all crawl, and land in any order (while
   * other clients, on healthy paths, commit and compact in between).
   */
  #planCongested(
    kind: 'read' | 'stream' | 'write' | 'cas',
    client: string,
    congestion: Congestion,
  ): { fault: Fault; applyAt: number; respondAt: number } {
    const rng = this.#world.rng
    const now = this.#world.now
    const slow = () => rng.int(congestion.latencyMs[0], congestion.latencyMs[1])
    const congested = (this.#congestedUntil.get(client) ?? Number.NEGATIVE_INFINITY) > now
    const latency = () =>
      congested
        ? slow()
        : rng.chance(this.profile.stall)
          ? rng.int(1_000, 90_000)
          : rng.int(1, 20) + rng.int(0, 20)
    const fault = this.#drawFault(kind)
    if (fault !== 'late') {
      const applyAt = now + latency()
      return { fault, applyAt, respondAt: applyAt + rng.int(1, 15) }
    }
    // The client gives up (timeout); its path is congested from now on, and
    // the request lands late on that path (or, as ever, much later).
    const respondAt = now + rng.int(1, 30)
    this.#congestedUntil.set(client, respondAt + congestion.windowMs)
    const delayApply = rng.chance(0.8) ? slow() : rng.int(1, 40_000)
    return { fault, applyAt: respondAt + delayApply, respondAt }
  }

  #send<T>(
    method: string,
    key: string,
    detail: string,
    signal: AbortSignal | undefined,
    kind: 'read' | 'stream' | 'write' | 'cas',
    apply: (at: number) => T,
  ): Promise<T> {
    const world = this.#world
    const ctx = simContext.getStore()
    const life: Life | undefined = ctx?.life
    const who = ctx ? `${ctx.client}#${ctx.op}` : '-'
    return new Promise<T>((resolve, reject) => {
      if (signal?.aborted) {
        reject(new AbortedError('aborted before sending'))
        return
      }
      if (life?.reaping) {
        reject(new StoreUnavailableError('sim: this client crashed', { maybeApplied: false }))
        return
      }
      let settled = false
      const settle = (fn: () => void) => {
        if (settled) return
        settled = true
        signal?.removeEventListener('abort', onAbort)
        world.bump()
        fn()
      }
      const onAbort = () => settle(() => reject(new AbortedError('aborted while in flight')))
      signal?.addEventListener('abort', onAbort, { once: true })
      world.register(`${method} ${key}${detail}`, () => {
        this.requests++
        const plan = this.#plan(kind, ctx?.client ?? '-')
        this.faults[plan.fault]++
        const tag = plan.fault === 'none' ? '' : ` !${plan.fault}`
        let outcome: { ok: true; value: T } | { ok: false; error: unknown } | undefined
        const applies = plan.fault !== 'before' && plan.fault !== 'conflict'
        const lands = plan.fault !== 'late' || world.rng.chance(0.6)
        const writes = kind === 'write' || kind === 'cas'
        if (applies && lands) {
          const inFlight = { client: ctx?.client ?? '-', sentAt: world.now }
          if (writes) this.#writesInFlight.add(inFlight)
          world.at(plan.applyAt, () => {
            this.#writesInFlight.delete(inFlight)
            try {
              outcome = { ok: true, value: apply(world.now) }
            } catch (error) {
              outcome = { ok: false, error }
            }
            if (writes) world.log(`${who} apply ${method} ${key}${detail} -> ${describe(outcome)}`)
            if (outcome.ok && /\/cs-q\d+-[0-9a-f]+-o[^/]*\.bin$/.test(key))
              this.offers.push(inFlight)
          })
        }
        world.at(
          plan.respondAt,
          () => {
            let answer: { ok: true; value: T } | { ok: false; error: unknown }
            if (life?.reaping)
              answer = {
                ok: false,
                error: new StoreUnavailableError('sim: this client crashed', {
                  maybeApplied: true,
                }),
              }
            else if (plan.fault === 'before')
              answer = {
                ok: false,
                error: new StoreUnavailableError(`sim: ${method} ${key} failed before applying`, {
                  maybeApplied: false,
                }),
              }
            else if (plan.fault === 'conflict')
              answer = { ok: false, error: new PreconditionFailedError(key) }
            else if (plan.fault === 'after' || plan.fault === 'late')
              answer = {
                ok: false,
                error: new StoreUnavailableError(
                  `sim: ${method} ${key} ${plan.fault === 'late' ? 'timed out' : 'lost its answer'}`,
                  { maybeApplied: kind === 'write' || kind === 'cas' },
                ),
              }
            else if (plan.fault === 'truncate' && outcome?.ok) {
              answer =
                kind === 'stream'
                  ? { ok: false, error: new TruncatedBody(outcome.value as BlobData) }
                  : {
                      ok: false,
                      error: new StoreUnavailableError(`sim: body of ${key} cut off`, {
                        maybeApplied: false,
                      }),
                    }
            } else answer = outcome ?? { ok: false, error: new Error('sim: no outcome') }
            world.log(`${who} ${method} ${key}${detail}${tag} => ${describe(answer)}`)
            settle(() => (answer.ok ? resolve(answer.value) : reject(answer.error)))
          },
          life,
        )
      })
    })
  }
}

/** Carries a read's data to getStream, which cuts the body off half way. */
class TruncatedBody extends Error {
  readonly data: BlobData
  constructor(data: BlobData) {
    super('truncated')
    this.data = data
  }
}

function describe(o: { ok: true; value: unknown } | { ok: false; error: unknown } | undefined) {
  if (!o) return '?'
  if (o.ok) {
    const v = o.value as { etag?: string; notModified?: boolean } | undefined
    if (v && typeof v === 'object' && 'notModified' in v && v.notModified) return '304'
    if (v && typeof v === 'object' && typeof v.etag === 'string') return `ok ${v.etag.slice(0, 6)}`
    if (Array.isArray(v)) return `ok [${v.length}]`
    return 'ok'
  }
  const e = o.error as { code?: string; name?: string }
  return e?.code ?? e?.name ?? 'error'
}

export function md5(bytes: Uint8Array): string {
  return createHash('md5').update(bytes).digest('hex')
}

async function bodyOf(body: PutBody): Promise<Uint8Array> {
  if (body instanceof Uint8Array) return body
  const parts: Uint8Array[] = []
  for await (const chunk of body.open()) parts.push(chunk)
  return Buffer.concat(parts)
}
