/**
 * Cold start of the packaged Lambda handler (examples/lambda/package.ts, x64):
 * the zip is unpacked into an empty temp directory, and each run is a fresh
 * Node process with an empty TMPDIR (Lambda's /tmp) that imports handler.mjs the
 * way the runtime does, then invokes it: a `get` (a `view`: one strong read),
 * then warm ones. The database is 1 MB or 10 MB, compacted into one snapshot,
 * on MinIO (the filesystem store when MinIO is not available).
 *
 * Columns: node boot (process start to the import), module load (the bundle's
 * code evaluated), open (S3db.open: manifest GET + snapshot download), the
 * first invocation, init (load + open: what Lambda reports as Init Duration),
 * init + first read (the goal: under 400 ms at 1 MB), a warm invocation, RSS
 * and heap after init. Full mode adds the unbundled zip (node_modules
 * installed, not bundled) for comparison.
 */
import { execFile } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { S3db } from '@s3db/core'
import Database from 'better-sqlite3'
import { migrations } from '../../examples/lambda/db.ts'
import { packageLambda } from '../../examples/lambda/package.ts'
import { type BenchOptions, median } from '../lib/measure.ts'
import { type Row, report } from '../lib/report.ts'
import { openStore } from '../lib/stores.ts'

const execFileP = promisify(execFile)

/** One container: import, then `warm + 1` invocations; prints its timings as JSON. */
const DRIVER = `
const importStart = performance.now()
const mod = await import(new URL('./handler.mjs', 'file://' + process.cwd() + '/').href)
const importEnd = performance.now()
const mem = process.memoryUsage()
const invokes = []
for (let i = 0; i <= Number(process.env.WARM); i++) {
  const t = performance.now()
  await mod.handler({ op: 'get', counter: 'bench' }, { awsRequestId: 'bench-' + i })
  invokes.push(performance.now() - t)
}
await mod.shutdown()
console.log(JSON.stringify({
  bootMs: importStart,
  loadMs: mod.initTimings.loadedAtMs - importStart,
  openMs: mod.initTimings.openMs,
  initMs: importEnd - importStart,
  rssMiB: mem.rss / 1048576,
  heapMiB: mem.heapUsed / 1048576,
  initGets: mod.initRequests.get,
  invokes,
}))
`

interface RunResult {
  bootMs: number
  loadMs: number
  openMs: number
  initMs: number
  rssMiB: number
  heapMiB: number
  initGets: number
  invokes: number[]
}

function seedFile(path: string, bytes: number): void {
  const db = new Database(path)
  db.exec('CREATE TABLE blobs (id INTEGER PRIMARY KEY, data BLOB NOT NULL)')
  const insert = db.prepare('INSERT INTO blobs (data) VALUES (randomblob(?))')
  db.transaction(() => {
    for (let done = 0; done < bytes; done += 4000) insert.run(4000)
  })()
  db.close()
}

export async function lambdaColdStart(opts: BenchOptions): Promise<void> {
  const sizes = [1, 10]
  const runs = opts.quick ? 1 : 5
  const warm = opts.quick ? 3 : 10
  const variants = opts.quick ? [true] : [true, false]
  const dir = await mkdtemp(join(tmpdir(), 's3db-bench-lambda-'))
  const rows: Row[] = []
  const zips: Record<string, string> = {}
  try {
    for (const bundle of variants) {
      const packaged = await packageLambda({ arch: 'x64', outDir: dir, bundle })
      const fnDir = join(dir, bundle ? 'fn-bundled' : 'fn-unbundled')
      await execFileP('unzip', ['-q', packaged.zip, '-d', fnDir])
      zips[bundle ? 'bundled' : 'unbundled'] =
        `${(packaged.zipBytes / 1048576).toFixed(2)} MB zipped, ${(packaged.unpackedBytes / 1048576).toFixed(2)} MB unpacked, ${packaged.files} files`
      for (const mb of sizes) {
        const s = await openStore(opts.s3 ? 's3' : 'filesystem', opts)
        try {
          // The handler's filesystem store uses a fixed prefix; each size has its own store.
          const prefix = opts.s3 ? `bench/lambda${mb}/` : 'lambda-counters/'
          const seed = join(dir, `seed-${mb}.sqlite`)
          await rm(seed, { force: true })
          seedFile(seed, mb * 1024 * 1024)
          await S3db.init(s.store, prefix, { from: seed })
          // Apply the handler's migration once and compact, so a container's open
          // is a manifest GET and one snapshot download, nothing to replay.
          const setup = await S3db.open(s.store, prefix, { migrations, autoCompact: false })
          await setup.compact()
          await setup.close()
          const env: NodeJS.ProcessEnv = opts.s3
            ? {
                S3DB_URL: `s3://${s.bucket}/${prefix}`,
                AWS_ENDPOINT_URL: opts.s3.endpoint,
                AWS_ACCESS_KEY_ID: opts.s3.accessKeyId,
                AWS_SECRET_ACCESS_KEY: opts.s3.secretAccessKey,
                AWS_REGION: opts.s3.region,
              }
            : { S3DB_DATA_DIR: s.root! }
          const results: RunResult[] = []
          for (let run = 0; run < runs; run++) {
            const tmp = await mkdtemp(join(dir, 'tmp-'))
            try {
              const { stdout } = await execFileP(
                process.execPath,
                ['--input-type=module', '--eval', DRIVER],
                {
                  cwd: fnDir,
                  env: {
                    PATH: process.env.PATH,
                    HOME: process.env.HOME,
                    TMPDIR: tmp,
                    WARM: String(warm),
                    ...env,
                  },
                  timeout: 120_000,
                },
              )
              results.push(JSON.parse(stdout.trim().split('\n').at(-1)!) as RunResult)
            } finally {
              await rm(tmp, { recursive: true, force: true })
            }
          }
          const m = (f: (r: RunResult) => number) => Math.round(median(results.map(f)))
          rows.push({
            package: bundle ? 'bundled' : 'unbundled',
            store: s.name,
            'db MB': mb,
            'node boot ms': m((r) => r.bootMs),
            'module load ms': m((r) => r.loadMs),
            'open ms': m((r) => r.openMs),
            'init ms': m((r) => r.initMs),
            'first invoke ms': m((r) => r.invokes[0]!),
            'init + first read ms': m((r) => r.initMs + r.invokes[0]!),
            'warm invoke ms': m((r) => median(r.invokes.slice(1))),
            'init GETs': m((r) => r.initGets),
            'RSS MiB': m((r) => r.rssMiB),
            'heap MiB': m((r) => r.heapMiB),
          })
        } finally {
          await s.cleanup()
        }
      }
    }
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
  report('lambda-cold-start', rows, {
    zips,
    runs,
    target: 'init + first read <= 400 ms at 1 MB',
    note: 'A fresh process per run, empty TMPDIR; medians. init = module load + open (Lambda Init Duration, without the runtime itself); node boot is before the import and not counted in init.',
  })
}
