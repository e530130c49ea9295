/**
 * Ctrl-C, with real processes and real signals: the built CLI is spawned and
 * sent SIGINT (what Ctrl-C in a terminal, or `kill -INT`, delivers) while a
 * long statement runs, while a snapshot uploads or downloads, and while a
 * commit publishes. Each case checks the exit code, the one line printed, and
 * in the store that nothing was written (or, when the manifest write was
 * already on the wire, that the CLI did not claim so).
 *
 * The long statement is a recursive CTE counting to 1e9 (minutes of work); a
 * test interrupts it once the CLI's SQL engine process has used 1.5 s of CPU,
 * far more than opening a small database takes, and expects the exit within
 * seconds. Store requests are held or slowed by a proxy in front of MinIO, so
 * the interrupt lands in the phase under test, not by timing.
 */
import { spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { mkdir, readdir } from 'node:fs/promises'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import { describe, expect, it } from 'vitest'
import { freshBucket, s3Client, s3Endpoint, s3SkipReason } from '../../../test/support/s3.js'
import {
  BIN,
  cli,
  cliEnv,
  json,
  makeSqlite,
  type Run,
  spawnCli,
  tempDir,
  waitForBusyDescendant,
} from './helpers.js'
import { startStoreProxy } from './store-proxy.js'

const linux = existsSync('/proc/self/stat')
if (!linux)
  console.log('CLI interrupt tests SKIPPED: they watch the SQL engine process in /proc (Linux)')
const s3Skip = s3SkipReason()
if (s3Skip) console.log(`CLI interrupt tests on S3 SKIPPED: ${s3Skip}`)
const scriptBin = ['/usr/bin/script', '/bin/script'].find((p) => existsSync(p))
if (!scriptBin)
  console.log('CLI terminal Ctrl-C test SKIPPED: no `script` (util-linux) to run a pty')

const COUNT_TO_1E9 =
  'WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 1000000000)'
const LONG_READ = `${COUNT_TO_1E9} SELECT count(*) FROM c`
const LONG_WRITE = `INSERT INTO users (id, name) ${COUNT_TO_1E9} SELECT x + 100, 'n' || x FROM c`
const STOPPED = 's3db: interrupted: the statement was stopped; nothing was written\n'

/** How long an interrupted CLI may take to exit (generous for a loaded CI machine). */
const PROMPT_EXIT_MS = 5_000

async function expectEngineGone(enginePid: number): Promise<void> {
  expect(() => process.kill(enginePid, 0)).toThrow(/ESRCH/)
}

async function leftovers(tmp: string): Promise<string[]> {
  return (await readdir(tmp)).filter((f) => f.startsWith('s3db-'))
}

describe.skipIf(!linux)('Ctrl-C in s3db sql and s3db shell (filesystem store)', () => {
  async function setup(label: string) {
    const dir = await tempDir(`int-${label}`)
    const tmp = join(dir, 'tmp')
    const target = join(dir, 'store', 'db')
    const seed = join(dir, 'seed.sqlite')
    makeSqlite(seed, ['ann', 'bob'])
    await mkdir(tmp)
    const created = await cli(['init', target, '--from', seed])
    expect(created.code, created.stderr).toBe(0)
    const env = { TMPDIR: tmp, HOME: dir, S3DB_HISTORY: join(dir, 'history') }
    const state = async () => {
      const s = json<{ seq: number }>(await cli(['status', target, '--json']))
      const n = json<{ n: number }[]>(
        await cli(['sql', target, 'SELECT count(*) AS n FROM users', '--json'], { env }),
      )
      return { seq: s.seq, users: n[0]!.n }
    }
    return { dir, tmp, target, env, state }
  }

  it('sql: a running query stops at once, exit 130, one line', async () => {
    const { tmp, target, env } = await setup('read')
    const run = spawnCli(['sql', target, LONG_READ], { env, input: '' })
    const engine = await waitForBusyDescendant(run.pid, 1500)
    run.signal('SIGINT')
    const r = await run.done
    expect(r.code, r.stderr).toBe(130)
    expect(r.stderr).toBe(STOPPED)
    expect(r.stdout).toBe('')
    expect(r.msAfterSignal).toBeLessThan(PROMPT_EXIT_MS)
    await expectEngineGone(engine)
    // The replica folder of the killed engine is removed too.
    expect(await leftovers(tmp)).toEqual([])
  })

  it('sql --write: the write stops, nothing is written', async () => {
    const { tmp, target, env, state } = await setup('write')
    const before = await state()
    const run = spawnCli(['sql', target, LONG_WRITE, '--write'], { env, input: '' })
    const engine = await waitForBusyDescendant(run.pid, 1500)
    run.signal('SIGINT')
    const r = await run.done
    expect(r.code, r.stderr).toBe(130)
    expect(r.stderr).toBe(STOPPED)
    expect(r.msAfterSignal).toBeLessThan(PROMPT_EXIT_MS)
    await expectEngineGone(engine)
    expect(await state()).toEqual(before)
    expect(await leftovers(tmp)).toEqual([])
  })

  it('shell with piped input: the running statement stops, exit 130, nothing written', async () => {
    const { target, env, state } = await setup('shell-pipe')
    const before = await state()
    const run = spawnCli(['shell', target], { env })
    run.write(`SELECT 'ready' AS r;\nBEGIN;\nINSERT INTO users VALUES (50, 'x');\n${LONG_WRITE};\n`)
    const engine = await waitForBusyDescendant(run.pid, 1500)
    expect(run.output().stdout).toMatch(/\| ready \|/)
    run.signal('SIGINT')
    const r = await run.done
    expect(r.code, r.stderr).toBe(130)
    expect(r.stderr).toBe(STOPPED)
    expect(r.msAfterSignal).toBeLessThan(PROMPT_EXIT_MS)
    await expectEngineGone(engine)
    expect(await state()).toEqual(before)
  })

  it('shell with piped input: Ctrl-C between statements ends it and drops the open block', async () => {
    const { target, env, state } = await setup('shell-idle')
    const before = await state()
    const run = spawnCli(['shell', target], { env })
    run.write("BEGIN;\nINSERT INTO users VALUES (60, 'y');\n")
    await expect.poll(() => run.output().stdout, { timeout: 20_000 }).toMatch(/1 row changed/)
    run.signal('SIGINT')
    const r = await run.done
    expect(r.code, r.stderr).toBe(130)
    expect(r.stderr).toBe(
      's3db: interrupted while reading input; the open transaction (1 statement) was discarded, nothing of it was written\n',
    )
    expect(await state()).toEqual(before)
  })

  it.skipIf(!scriptBin)(
    'shell in a terminal: Ctrl-C clears a typed line, stops a running statement, and the shell goes on',
    async () => {
      const { target, env, state } = await setup('shell-tty')
      const before = await state()
      // `script` runs the shell on a pseudo-terminal; what we write is typed on it.
      const command = [process.execPath, BIN, 'shell', target]
        .map((a) => `'${a.replace(/'/g, `'\\''`)}'`)
        .join(' ')
      const child = spawn(scriptBin!, ['-qfec', command, '/dev/null'], {
        env: cliEnv(env),
        stdio: ['pipe', 'pipe', 'pipe'],
      })
      let out = ''
      child.stdout.setEncoding('utf8').on('data', (d: string) => {
        out += d
      })
      const exited = new Promise<number | null>((resolve) => child.on('close', resolve))
      const type = (text: string) => child.stdin.write(text)
      const seen = (pattern: RegExp) => expect.poll(() => out, { timeout: 20_000 }).toMatch(pattern)
      await seen(/s3db> /)
      type("SELECT 'typed-then-cleared'")
      await seen(/typed-then-cleared/)
      type('\x03')
      await seen(/\^C/)
      type("SELECT 'after clear';\r")
      await seen(/\| after clear +\|/)
      type(`${LONG_WRITE};\r`)
      await waitForBusyDescendant(child.pid!, 1500)
      const interruptedAt = Date.now()
      type('\x03')
      await seen(/s3db: interrupted: the statement was stopped; nothing was written/)
      expect(Date.now() - interruptedAt).toBeLessThan(PROMPT_EXIT_MS)
      type("SELECT 'still here';\r")
      await seen(/\| still here +\|/)
      type('.quit\r')
      expect(await exited).toBe(0)
      // The cleared line never ran, the stopped write wrote nothing.
      expect(out).not.toMatch(/\| typed-then-cleared +\|/)
      expect(await state()).toEqual(before)
    },
  )
})

describe.skipIf(Boolean(s3Skip))('Ctrl-C while data moves to or from S3', () => {
  async function setup(label: string) {
    const endpoint = s3Endpoint()!
    const client = s3Client(endpoint)
    const bucket = await freshBucket(client, `int-${label}`)
    client.destroy()
    const proxy = await startStoreProxy(endpoint.endpoint)
    const dir = await tempDir(`int-s3-${label}`)
    const env = {
      AWS_ENDPOINT_URL: proxy.url,
      AWS_ACCESS_KEY_ID: endpoint.accessKeyId,
      AWS_SECRET_ACCESS_KEY: endpoint.secretAccessKey,
      AWS_REGION: endpoint.region,
      AWS_MAX_ATTEMPTS: '1',
      TMPDIR: dir,
    }
    const target = `s3://${bucket}/db/`
    const seq = async () => {
      const r = await cli(['status', target, '--json'], { env })
      return r.code === 0 ? json<{ seq: number }>(r).seq : undefined
    }
    return { proxy, dir, env, target, bucket, seq }
  }

  /** A seed big enough that a slowed upload or download takes many seconds. */
  function bigSeed(path: string): void {
    const db = new Database(path)
    db.exec('CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT NOT NULL)')
    const insert = db.prepare("INSERT INTO users VALUES (?, 'u' || ? || hex(randomblob(400)))")
    db.transaction(() => {
      for (let i = 1; i <= 4000; i++) insert.run(i, i)
    })()
    db.close()
  }

  const onSnapshot = (method: string) => (m: string, path: string) =>
    m === method && path.includes('/snapshots/')
  const onManifestPut = (m: string, path: string) => m === 'PUT' && path.endsWith('/manifest.json')
  const onChangesetPut = (m: string, path: string) => m === 'PUT' && path.includes('/changesets/')

  const noSdkNoise = (r: Run) => expect(r.stderr).not.toMatch(/non-retryable|aws-sdk|at /)

  it('init --from: stops the upload, exit 130, one line, no database', async () => {
    const { proxy, dir, env, target, seq } = await setup('init')
    const seed = join(dir, 'seed.sqlite')
    bigSeed(seed)
    const upload = proxy.add({ match: onSnapshot('PUT'), bytesPerSecond: 64 * 1024 })
    const run = spawnCli(['init', target, '--from', seed], { env, input: '' })
    await upload.arrived
    run.signal('SIGINT')
    const r = await run.done
    expect(r.code, r.stderr).toBe(130)
    expect(r.stderr).toBe(`s3db: interrupted: nothing was published; ${target} is unchanged\n`)
    noSdkNoise(r)
    expect(r.msAfterSignal).toBeLessThan(PROMPT_EXIT_MS)
    expect(await seq()).toBeUndefined()
    await proxy.close()
  })

  it('pull: stops the download, exit 130, one line, no file written', async () => {
    const { proxy, dir, env, target } = await setup('pull')
    const seed = join(dir, 'seed.sqlite')
    bigSeed(seed)
    expect((await cli(['init', target, '--from', seed], { env })).code).toBe(0)
    const out = join(dir, 'out')
    await mkdir(out)
    const download = proxy.add({ match: onSnapshot('GET'), bytesPerSecond: 64 * 1024 })
    const run = spawnCli(['pull', target, '-o', join(out, 'pulled.sqlite')], { env, input: '' })
    await download.arrived
    run.signal('SIGINT')
    const r = await run.done
    expect(r.code, r.stderr).toBe(130)
    expect(r.stderr).toBe('s3db: interrupted: nothing was written\n')
    noSdkNoise(r)
    expect(r.msAfterSignal).toBeLessThan(PROMPT_EXIT_MS)
    expect(await readdir(out)).toEqual([])
    await proxy.close()
  })

  it('push and compact: stop the upload, exit 130, the database unchanged', async () => {
    const { proxy, dir, env, target, seq } = await setup('push')
    const seed = join(dir, 'seed.sqlite')
    bigSeed(seed)
    expect((await cli(['init', target, '--from', seed], { env })).code).toBe(0)
    expect(
      (await cli(['sql', target, "INSERT INTO users VALUES (0, 'zero')", '-w'], { env })).code,
    ).toBe(0)
    const file = join(dir, 'pulled.sqlite')
    expect((await cli(['pull', target, '-o', file], { env })).code).toBe(0)
    const before = await seq()
    proxy.add({ match: onSnapshot('PUT'), bytesPerSecond: 64 * 1024 })
    for (const args of [
      ['push', target, '-f', file],
      ['compact', target],
    ]) {
      const uploads = proxy.seen.filter((r) => r.startsWith('PUT') && r.includes('/snapshots/'))
      const run = spawnCli(args, { env, input: '' })
      await expect
        .poll(() => proxy.seen.filter((r) => r.startsWith('PUT') && r.includes('/snapshots/')), {
          timeout: 30_000,
        })
        .toHaveLength(uploads.length + 1)
      run.signal('SIGINT')
      const r = await run.done
      expect(r.code, `${args[0]}: ${r.stderr}`).toBe(130)
      expect(r.stderr).toBe(`s3db: interrupted: nothing was published; ${target} is unchanged\n`)
      noSdkNoise(r)
      expect(r.msAfterSignal).toBeLessThan(PROMPT_EXIT_MS)
      expect(await seq()).toBe(before)
    }
    await proxy.close()
  })

  it('sql --write: an interrupt during the changeset upload publishes nothing', async () => {
    const { proxy, dir, env, target, seq } = await setup('cs')
    const seed = join(dir, 'seed.sqlite')
    makeSqlite(seed, ['ann'])
    expect((await cli(['init', target, '--from', seed], { env })).code).toBe(0)
    const before = await seq()
    const held = proxy.add({ match: onChangesetPut, hold: true })
    const run = spawnCli(['sql', target, "INSERT INTO users VALUES (2, 'bob')", '-w'], {
      env,
      input: '',
    })
    await held.arrived
    run.signal('SIGINT')
    const r = await run.done
    expect(r.code, r.stderr).toBe(130)
    expect(r.stderr).toBe(`s3db: interrupted: nothing was published; ${target} is unchanged\n`)
    expect(await seq()).toBe(before)
    await proxy.close()
  })

  it('sql --write: the manifest write on the wire completes; the result is reported', async () => {
    const { proxy, dir, env, target, seq } = await setup('cas')
    const seed = join(dir, 'seed.sqlite')
    makeSqlite(seed, ['ann'])
    expect((await cli(['init', target, '--from', seed], { env })).code).toBe(0)
    const before = (await seq())!
    const held = proxy.add({ match: onManifestPut, hold: true })
    const run = spawnCli(['sql', target, "INSERT INTO users VALUES (2, 'bob')", '-w'], {
      env,
      input: '',
    })
    await held.arrived
    run.signal('SIGINT')
    // Not cut off: it waits for the answer to the write that is on the wire.
    await new Promise((r) => setTimeout(r, 1000))
    expect(run.output().code).toBeNull()
    held.release()
    const r = await run.done
    expect(r.code, r.stderr).toBe(0)
    expect(r.stdout).toBe(`1 row changed\ncommitted at seq ${before + 1}\n`)
    expect(r.stderr).toBe(
      'note: the interrupt came while the write was being published; it completed\n',
    )
    expect(await seq()).toBe(before + 1)
    await proxy.close()
  })

  it('sql --write: a second Ctrl-C during the manifest write says the outcome is unknown', async () => {
    const { proxy, dir, env, target, seq } = await setup('cas2')
    const seed = join(dir, 'seed.sqlite')
    makeSqlite(seed, ['ann'])
    expect((await cli(['init', target, '--from', seed], { env })).code).toBe(0)
    const before = (await seq())!
    const held = proxy.add({ match: onManifestPut, hold: true })
    const run = spawnCli(['sql', target, "INSERT INTO users VALUES (2, 'bob')", '-w'], {
      env,
      input: '',
    })
    await held.arrived
    run.signal('SIGINT')
    await new Promise((r) => setTimeout(r, 300))
    run.signal('SIGINT')
    const r = await run.done
    expect(r.code, r.stderr).toBe(130)
    expect(r.stderr).toBe(
      `s3db: interrupted while publishing to ${target}: whether it changed is unknown; check with \`s3db status ${target}\`\n`,
    )
    // And rightly so: the server applies the write it had received.
    held.release()
    await expect.poll(seq, { timeout: 10_000 }).toBe(before + 1)
    await proxy.close()
  })

  it('init: the manifest write on the wire completes; the database exists', async () => {
    const { proxy, env, target, seq } = await setup('init-cas')
    const held = proxy.add({ match: onManifestPut, hold: true })
    const run = spawnCli(['init', target], { env, input: '' })
    await held.arrived
    run.signal('SIGINT')
    await new Promise((r) => setTimeout(r, 1000))
    expect(run.output().code).toBeNull()
    held.release()
    const r = await run.done
    expect(r.code, r.stderr).toBe(0)
    expect(r.stdout).toMatch(/^created database /)
    expect(r.stderr).toBe(
      'note: the interrupt came while the write was being published; it completed\n',
    )
    expect(await seq()).toBe(0)
    await proxy.close()
  })
})
