/**
 * A one-slot handoff between a producer that must stay inside a callback (a
 * view reading rows lazily) and a consumer pulling at its own pace (Kysely's
 * `.stream()`). The producer waits while the slot is full; when the consumer
 * stops early, the producer's next `put` says so and it returns.
 *
 * @module
 */

type Taken<T> = { done: false; value: T } | { done: true }

export class StreamHandoff<T> {
  #state: 'open' | 'closed' | 'failed' | 'cancelled' = 'open'
  #error: unknown
  #item: { value: T; accepted(ok: boolean): void } | undefined
  #taker: { resolve(r: Taken<T>): void; reject(err: unknown): void } | undefined

  /** Hands `value` over; resolves true once taken, false when the consumer stopped. */
  put(value: T): Promise<boolean> {
    if (this.#state !== 'open') return Promise.resolve(false)
    const taker = this.#taker
    if (taker) {
      this.#taker = undefined
      taker.resolve({ done: false, value })
      return Promise.resolve(true)
    }
    return new Promise<boolean>((accepted) => {
      this.#item = { value, accepted }
    })
  }

  /** The next value, or done once the producer closed; rejects when it failed. */
  take(): Promise<Taken<T>> {
    const item = this.#item
    if (item) {
      this.#item = undefined
      item.accepted(true)
      return Promise.resolve({ done: false, value: item.value })
    }
    if (this.#state === 'failed') return Promise.reject(this.#error)
    if (this.#state !== 'open') return Promise.resolve({ done: true })
    return new Promise<Taken<T>>((resolve, reject) => {
      this.#taker = { resolve, reject }
    })
  }

  /** The producer finished. */
  close(): void {
    this.#end('closed')
  }

  /** The producer failed: the consumer's pending or next take rejects with `err`. */
  fail(err: unknown): void {
    this.#error = err
    this.#end('failed')
  }

  /** The consumer stopped: the producer's pending and later puts resolve false. */
  cancel(): void {
    this.#end('cancelled')
  }

  #end(state: 'closed' | 'failed' | 'cancelled'): void {
    if (this.#state !== 'open') return
    this.#state = state
    const item = this.#item
    if (item && state === 'cancelled') {
      this.#item = undefined
      item.accepted(false)
    }
    const taker = this.#taker
    if (taker) {
      this.#taker = undefined
      if (state === 'failed') taker.reject(this.#error)
      else taker.resolve({ done: true })
    }
  }
}
