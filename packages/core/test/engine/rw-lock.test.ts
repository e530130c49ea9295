/** The replica's readers-writer lock, and its synchronous shared hold. */
import { describe, expect, it } from 'vitest'
import { ReadWriteLock } from '../../src/util/rw-lock.js'

describe('ReadWriteLock', () => {
  it('sharedNow runs only when no writer holds or waits for the lock', async () => {
    const lock = new ReadWriteLock()
    expect(lock.sharedNow(() => 1)).toEqual({ value: 1 })
    let release!: () => void
    const held = lock.exclusive(() => new Promise<void>((r) => (release = r)))
    expect(lock.sharedNow(() => 2)).toBeUndefined()
    release()
    await held
    expect(lock.sharedNow(() => 3)).toEqual({ value: 3 })
    // A writer waiting behind a reader blocks new readers, sync or not (no starvation).
    let endRead!: () => void
    const reading = lock.shared(() => new Promise<void>((r) => (endRead = r)))
    const writing = lock.exclusive(() => 'wrote')
    expect(lock.sharedNow(() => 4)).toBeUndefined()
    endRead()
    await reading
    expect(await writing).toBe('wrote')
    expect(lock.sharedNow(() => 5)).toEqual({ value: 5 })
  })

  it('sharedNow releases its hold when fn throws', async () => {
    const lock = new ReadWriteLock()
    expect(() =>
      lock.sharedNow(() => {
        throw new Error('boom')
      }),
    ).toThrow('boom')
    expect(await lock.exclusive(() => 'free')).toBe('free')
  })
})
