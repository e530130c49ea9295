import { FileSystemBlobStore, MemoryBlobStore } from '@s3db/core'
import { tempDir } from '../helpers.js'
import { historySuite } from './history-suite.js'

historySuite('memory store', async (fn) => fn(new MemoryBlobStore()))

historySuite('filesystem store', async (fn) => {
  const { dir, cleanup } = await tempDir('history')
  try {
    await fn(await FileSystemBlobStore.open(dir))
  } finally {
    await cleanup()
  }
})
