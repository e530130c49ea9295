/** The hostile-store suite (test/reliability/hostile/) on the memory store. */
import { MemoryBlobStore } from '@s3db/core'
import { CASES } from './hostile/cases.js'
import { hostileSuite } from './hostile/run.js'

hostileSuite(
  'memory',
  async () => ({ store: new MemoryBlobStore(), root: '', dispose: async () => {} }),
  CASES,
)
