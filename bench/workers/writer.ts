// One OS process of the multi-process benchmark: `perProcess` writers updating
// rows through the filesystem store shaped to the given latency.
import { FileSystemBlobStore, S3db } from '@s3db/core'
import { CountingBlobStore, LatencyBlobStore, totalRequests } from '@s3db/core/internal'

const [root, prefix, procArg, perArg, mode, durationArg, latencyArg] = process.argv.slice(2)
const proc = Number(procArg)
const per = Number(perArg)
const fs = await FileSystemBlobStore.open(root!)
const counter = new CountingBlobStore(fs)
const store = new LatencyBlobStore(counter, { latencyMs: Number(latencyArg) })
const db = await S3db.open(store, prefix!, { autoCompact: false, maxRetries: 1000 })
const latencies: number[] = []
const deadline = performance.now() + Number(durationArg)
await Promise.all(
  Array.from({ length: per }, async (_, w) => {
    while (performance.now() < deadline) {
      const t = performance.now()
      await db.update((tx) =>
        tx.run('UPDATE t SET v = v + 1 WHERE id = ?', [mode === 'hot' ? 0 : proc * per + w]),
      )
      latencies.push(performance.now() - t)
    }
  }),
)
await db.close()
await fs.close()
process.stdout.write(JSON.stringify({ latencies, requests: totalRequests(counter.snapshot()) }))
