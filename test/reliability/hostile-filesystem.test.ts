/** The hostile-store suite (test/reliability/hostile/) on the filesystem store, CLI included. */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { FileSystemBlobStore } from '@s3db/core'
import { CASES } from './hostile/cases.js'
import { hostileSuite } from './hostile/run.js'

hostileSuite(
  'filesystem',
  async () => {
    const dir = await mkdtemp(join(tmpdir(), 's3db-hostile-fs-'))
    const store = await FileSystemBlobStore.open(dir)
    return {
      store,
      root: '',
      target: (prefix) => `${dir}//${prefix}`,
      dispose: async () => {
        await store.close()
        await rm(dir, { recursive: true, force: true })
      },
    }
  },
  CASES,
)
