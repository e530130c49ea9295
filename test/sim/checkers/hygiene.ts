/**
 * Store hygiene: nothing outside the database's namespace is written or
 * deleted, objects in the namespace that s3db does not name are left alone,
 * and every object the manifest references exists whenever s3db wrote the
 * manifest or deleted something.
 *
 * One exception is documented (docs/GUARANTEES.md, "Deleting a database while
 * its clients still write"): a create already under way when the operator
 * deletes the database can land its first manifest over a snapshot the
 * deletion removed. Such a manifest is a hazard the operator must repair
 * (delete again); it is a violation only if it is still there at the end.
 */
import { parseManifest } from '@s3db/core/internal'
import type { Violation } from '../history.ts'
import type { Mutation, SimStore } from '../store.ts'

/** What the hygiene checker needs of the current manifest. */
interface CurrentManifest {
  refs: string[]
  created: boolean
}

/** Actors whose writes are not s3db's (fixtures, the operator). */
const OUTSIDERS = new Set(['world', 'operator'])

/** Watches a store while the simulation runs; `violations()` at the end. */
export class HygieneWatch {
  readonly #store: SimStore
  readonly #prefix: string
  readonly #sentinels = new Map<string, string>()
  readonly #found: Violation[] = []
  readonly #reported = new Set<string>()
  /** The manifest was last written by the operator: its references are the operator's business. */
  #operatorManifest = false
  /** Keys a created manifest references that the operator deleted before it landed. */
  readonly #hazards = new Map<string, string>()

  constructor(store: SimStore, prefix: string) {
    this.#store = store
    this.#prefix = prefix
    store.onMutation = (m) => this.#observe(m)
  }

  /** Objects that must survive the run unchanged. */
  sentinel(key: string, body: string): void {
    this.#store.poke(key, new TextEncoder().encode(body), 'world')
    this.#sentinels.set(key, this.#store.peek(key)!.etag)
  }

  #observe(m: Mutation): void {
    if (!OUTSIDERS.has(m.client)) {
      if (!m.key.startsWith(this.#prefix))
        this.#add(
          `${m.client} ${m.kind === 'put' ? 'wrote' : 'deleted'} ${m.key}, outside the database's namespace ${this.#prefix}`,
        )
      if (this.#sentinels.has(m.key))
        this.#add(
          `${m.client} ${m.kind === 'put' ? 'overwrote' : 'deleted'} ${m.key}, an object s3db does not own`,
        )
    }
    if (m.key === this.#store.manifestKey && m.kind === 'put')
      this.#operatorManifest = OUTSIDERS.has(m.client)
    if (m.key === this.#store.manifestKey && m.kind === 'delete') this.#operatorManifest = true
    if (!this.#operatorManifest && !OUTSIDERS.has(m.client)) this.#checkReferences(m)
  }

  /** The current manifest's object keys, and whether it is a database's first; undefined when absent. */
  #current(): CurrentManifest | undefined {
    const o = this.#store.peek(this.#store.manifestKey)
    if (!o) return undefined
    const manifest = parseManifest(o.body, this.#store.manifestKey, this.#prefix)
    return {
      refs: [manifest.snapshot.key, ...manifest.log.map((e) => e.key)],
      created: manifest.seq === 0 && manifest.log.length === 0,
    }
  }

  #checkReferences(m: Mutation): void {
    let current: CurrentManifest | undefined
    try {
      current = this.#current()
    } catch (err) {
      this.#add(`${m.client} left a manifest that does not parse: ${(err as Error).message}`)
      return
    }
    if (!current) return
    const { refs, created } = current
    for (const key of refs) {
      if (this.#store.peek(key)) continue
      const deleted = [...this.#store.mutations]
        .reverse()
        .find((x) => x.key === key && x.kind === 'delete')
      const message = `the manifest references ${key}, which does not exist (${deleted ? `deleted by ${deleted.client} at t=${deleted.at}` : 'never written'}; noticed after ${m.client} ${m.kind} ${m.key})`
      if (created && deleted?.client === 'operator' && m.key === this.#store.manifestKey)
        this.#hazards.set(key, message)
      else if (!this.#hazards.has(key)) this.#add(message, key)
    }
  }

  /**
   * Whether the current manifest is a create that landed over objects the
   * operator had just deleted (the documented hazard the operator repairs).
   */
  createdOverDeletion(): boolean {
    try {
      const refs = this.#current()?.refs ?? []
      return refs.some((k) => this.#hazards.has(k) && !this.#store.peek(k))
    } catch {
      return false
    }
  }

  #add(message: string, once?: string): void {
    if (once) {
      if (this.#reported.has(once)) return
      this.#reported.add(once)
    }
    this.#found.push({ checker: 'hygiene', message, ops: [] })
  }

  violations(): Violation[] {
    const out = [...this.#found]
    if (this.createdOverDeletion())
      for (const message of this.#hazards.values())
        out.push({ checker: 'hygiene', message: `${message}, never repaired`, ops: [] })
    for (const [key, etag] of this.#sentinels)
      if (this.#store.peek(key)?.etag !== etag)
        out.push({
          checker: 'hygiene',
          message: `${key} (not s3db's) was changed or deleted`,
          ops: [],
        })
    return out
  }
}
