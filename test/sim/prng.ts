/**
 * The simulator's randomness: mulberry32 (a well-known 32-bit generator) seeded
 * through FNV-1a, so every stream is named by a string and one seed reproduces
 * one run exactly.
 */

/** FNV-1a, 32 bits: turns a stream name into a seed. */
export function hash32(text: string): number {
  let h = 0x811c9dc5
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i)
    h = Math.imul(h, 0x01000193)
  }
  return h >>> 0
}

/** A deterministic source of numbers in [0, 1) with helpers. */
export class Prng {
  #a: number

  constructor(seed: number | string) {
    this.#a = typeof seed === 'number' ? seed >>> 0 : hash32(seed)
  }

  /** mulberry32. */
  next(): number {
    this.#a = (this.#a + 0x6d2b79f5) >>> 0
    let t = this.#a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }

  /** An integer in [lo, hi]. */
  int(lo: number, hi: number): number {
    return lo + Math.floor(this.next() * (hi - lo + 1))
  }

  chance(p: number): boolean {
    return this.next() < p
  }

  pick<T>(items: readonly T[]): T {
    return items[Math.floor(this.next() * items.length)]!
  }

  /** A key of `weights` drawn with the given relative weights. */
  weighted<K extends string>(weights: Readonly<Record<K, number>>): K {
    const entries = Object.entries(weights) as [K, number][]
    const total = entries.reduce((n, [, w]) => n + w, 0)
    let r = this.next() * total
    for (const [k, w] of entries) {
      r -= w
      if (r < 0) return k
    }
    return entries.at(-1)![0]
  }
}
