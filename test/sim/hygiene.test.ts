/**
 * The hygiene checker catches a manifest referencing a missing object, and
 * tells the documented hazard (a create landing over an operator's deletion,
 * which the operator repairs) from a defect only as long as it is repaired.
 */
import { serializeManifest } from '@s3db/core/internal'
import { describe, expect, it } from 'vitest'
import { HygieneWatch } from './checkers/hygiene.ts'
import { SimStore } from './store.ts'
import { World } from './world.ts'

const PREFIX = 'sim/db/'
const MANIFEST = `${PREFIX}manifest.json`
const SNAP = `${PREFIX}snapshots/snap-01HF7YAB81000A000001000001.sqlite`

function setup() {
  const store = new SimStore(new World(1), MANIFEST, { rate: 0, stall: 0 })
  const hygiene = new HygieneWatch(store, PREFIX)
  return { store, hygiene }
}

function firstManifest(snapshot: string): Uint8Array {
  return serializeManifest({
    formatVersion: 1,
    seq: 0,
    schemaVersion: 0,
    snapshot: { key: snapshot, seq: 0, size: 1 },
    log: [],
  })
}

describe('hygiene checker', () => {
  it('catches a manifest a client wrote over an object that was never written', () => {
    const { store, hygiene } = setup()
    store.poke(MANIFEST, firstManifest(SNAP), 'c1')
    expect(hygiene.violations().map((v) => v.message)).toEqual([
      expect.stringContaining('never written'),
    ])
  })

  it('catches a client deleting an object the manifest references', () => {
    const { store, hygiene } = setup()
    store.poke(SNAP, new Uint8Array([1]), 'c1')
    store.poke(MANIFEST, firstManifest(SNAP), 'c1')
    store.remove(SNAP, 'c2')
    expect(hygiene.violations().map((v) => v.message)).toEqual([
      expect.stringContaining('deleted by c2'),
    ])
  })

  it('lets a create land over an operator deletion only until the operator repairs it', () => {
    const { store, hygiene } = setup()
    store.poke(SNAP, new Uint8Array([1]), 'c1')
    store.remove(SNAP, 'operator')
    store.poke(MANIFEST, firstManifest(SNAP), 'c1')
    expect(hygiene.createdOverDeletion()).toBe(true)
    // Not repaired: a violation at the end.
    expect(hygiene.violations().map((v) => v.message)).toEqual([
      expect.stringContaining('never repaired'),
    ])
    // The operator deletes again and the admin re-creates: clean.
    store.remove(MANIFEST, 'operator')
    const fresh = `${PREFIX}snapshots/snap-01HF7YBR7W000000000H000001.sqlite`
    store.poke(fresh, new Uint8Array([1]), 'admin')
    store.poke(MANIFEST, firstManifest(fresh), 'admin')
    expect(hygiene.createdOverDeletion()).toBe(false)
    expect(hygiene.violations()).toEqual([])
  })
})
