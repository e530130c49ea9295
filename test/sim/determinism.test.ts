/** One seed reproduces one run exactly: the same trace, byte for byte. */
import { expect, it } from 'vitest'
import { simulate } from './simulate.ts'

it('the same seed gives byte-identical traces twice', { timeout: 120_000 }, async () => {
  for (const seed of [5, 12]) {
    const a = await simulate(seed, { all: true })
    const b = await simulate(seed, { all: true })
    expect(a.trace.length).toBeGreaterThan(100)
    expect(b.trace.join('\n')).toBe(a.trace.join('\n'))
  }
})
