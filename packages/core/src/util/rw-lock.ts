/** An async readers-writer lock; a waiting writer blocks new readers (no starvation). */
export class ReadWriteLock {
  #readers = 0
  #writer = false
  #waiting: { exclusive: boolean; grant: () => void }[] = []

  async shared<T>(fn: () => Promise<T> | T): Promise<T> {
    if (this.#writer || this.#waiting.some((w) => w.exclusive)) {
      await new Promise<void>((grant) => this.#waiting.push({ exclusive: false, grant }))
    } else {
      this.#readers++
    }
    try {
      return await fn()
    } finally {
      this.#readers--
      this.#pump()
    }
  }

  /**
   * Runs a synchronous `fn` now under a shared hold if no writer holds or waits
   * for the lock; returns undefined (without running it) otherwise.
   */
  sharedNow<T>(fn: () => T): { value: T } | undefined {
    if (this.#writer || this.#waiting.some((w) => w.exclusive)) return undefined
    this.#readers++
    try {
      return { value: fn() }
    } finally {
      this.#readers--
      this.#pump()
    }
  }

  async exclusive<T>(fn: () => Promise<T> | T): Promise<T> {
    if (this.#writer || this.#readers > 0 || this.#waiting.length > 0) {
      await new Promise<void>((grant) => this.#waiting.push({ exclusive: true, grant }))
    } else {
      this.#writer = true
    }
    try {
      return await fn()
    } finally {
      this.#writer = false
      this.#pump()
    }
  }

  #pump(): void {
    while (this.#waiting.length > 0 && !this.#writer) {
      const next = this.#waiting[0]!
      if (next.exclusive) {
        if (this.#readers > 0) return
        this.#waiting.shift()
        this.#writer = true
        next.grant()
        return
      }
      this.#waiting.shift()
      this.#readers++
      next.grant()
    }
  }
}
