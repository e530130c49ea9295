/**
 * End-to-end behaviour every store must show, run against the filesystem store
 * and against MinIO: each test drives the built CLI as a child process.
 */
import { existsSync } from 'node:fs'
import { readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { type BlobStore, S3db } from '@s3db/core'
import { beforeAll, describe, expect, it } from 'vitest'
import {
  cli,
  editSqlite,
  expectCleanError,
  json,
  makeSqlite,
  type RunOptions,
  tempDir,
  userNames,
} from './helpers.js'

export interface StoreFixture {
  /** A target URL for a fresh database named `name`. */
  target(name: string): string
  /** The database prefix `target(name)` addresses in `store`. */
  prefix(name: string): string
  /** The store behind the targets, to damage a database directly. */
  store: BlobStore
  /** Environment the CLI needs for this store. */
  env: NodeJS.ProcessEnv
}

interface Status {
  seq: number
  schemaVersion: number
  snapshot: { key: string; seq: number; size: number }
  epoch: string
  log: { length: number; bytes: number }
  objects: Record<
    'snapshots' | 'changesets' | 'history' | 'other' | 'total',
    { count: number; bytes: number }
  >
  unreferenced: { count: number; bytes: number }
}

export function storeSuite(label: string, setup: () => Promise<StoreFixture>): void {
  describe(`s3db CLI end to end (${label})`, () => {
    let fx: StoreFixture
    let dir: string
    let run: (args: string[], options?: RunOptions) => ReturnType<typeof cli>
    beforeAll(async () => {
      fx = await setup()
      dir = await tempDir(label)
      run = (args, options = {}) =>
        cli(args, { cwd: dir, ...options, env: { HOME: dir, ...fx.env, ...options.env } })
    })

    /** A database with users ann and bob, created through the CLI. */
    async function seeded(name: string): Promise<string> {
      const t = fx.target(name)
      const seed = join(dir, `${name}-seed.sqlite`)
      makeSqlite(seed, ['ann', 'bob'])
      const r = await run(['init', t, '--from', seed])
      expect(r.stderr).toBe('')
      expect(r.code).toBe(0)
      return t
    }

    async function status(t: string): Promise<Status> {
      const r = await run(['status', t, '--json'])
      expect(r.code, r.stderr).toBe(0)
      return json<Status>(r)
    }

    async function names(t: string): Promise<string[]> {
      const r = await run(['sql', t, 'SELECT name FROM users ORDER BY id', '--json'])
      expect(r.code, r.stderr).toBe(0)
      return json<{ name: string }[]>(r).map((u) => u.name)
    }

    it('init creates an empty database once, and refuses to overwrite it', async () => {
      const t = fx.target('init-empty')
      const first = await run(['init', t, '--json'])
      expect(first.code, first.stderr).toBe(0)
      expect(json<{ seq: number }>(first).seq).toBe(0)
      const s = await status(t)
      expect(s.seq).toBe(0)
      expect(s.log.length).toBe(0)
      const again = await run(['init', t])
      expect(again.code).toBe(1)
      expectCleanError(again)
      expect(again.stderr).toMatch(/already exists/)
      expect(again.stderr).toMatch(/hint: .*push/)
    })

    it('init --from seeds the database from a SQLite file', async () => {
      const t = await seeded('init-from')
      expect(await names(t)).toEqual(['ann', 'bob'])
    })

    it('init --from a file that is not SQLite fails and creates nothing', async () => {
      const t = fx.target('init-bad')
      const bogus = join(dir, 'not-sqlite.txt')
      await writeFile(bogus, 'hello, I am plain text and certainly no database\n')
      const r = await run(['init', t, '--from', bogus])
      expect(r.code).toBe(1)
      expectCleanError(r)
      expect(r.stderr).toMatch(/not a SQLite database/)
      const s = await run(['status', t])
      expect(s.code).toBe(1)
      expect(s.stderr).toMatch(/no database at/)
    })

    it('commands on a missing database fail with "no database" and do not create one', async () => {
      const t = fx.target('never-created')
      for (const args of [
        ['status', t],
        ['pull', t, '-o', join(dir, 'never.sqlite')],
        ['sql', t, 'SELECT 1'],
        ['compact', t],
        ['gc', t],
      ]) {
        const r = await run(args)
        expect(r.code, `${args[0]}: ${r.stderr}`).toBe(1)
        expectCleanError(r)
        expect(r.stderr).toMatch(/no database at/)
      }
      expect((await run(['status', t])).code).toBe(1)
      expect(existsSync(join(dir, 'never.sqlite'))).toBe(false)
    })

    it('sql prints reads as a table, JSON and CSV', async () => {
      const t = await seeded('sql-read')
      const table = await run(['sql', t, 'SELECT id, name FROM users ORDER BY id'])
      expect(table.code, table.stderr).toBe(0)
      expect(table.stdout).toBe(
        [
          '+----+------+',
          '| id | name |',
          '+----+------+',
          '| 1  | ann  |',
          '| 2  | bob  |',
          '+----+------+',
          '(2 rows)',
          '',
        ].join('\n'),
      )
      const asJson = await run(['sql', t, 'SELECT id, name FROM users ORDER BY id', '--json'])
      expect(json(asJson)).toEqual([
        { id: 1, name: 'ann' },
        { id: 2, name: 'bob' },
      ])
      const asCsv = await run([
        'sql',
        t,
        `SELECT name, 'say "hi", ' || name AS greeting FROM users ORDER BY id`,
        '--csv',
      ])
      expect(asCsv.stdout).toBe(
        'name,greeting\r\nann,"say ""hi"", ann"\r\nbob,"say ""hi"", bob"\r\n',
      )
      // Integers beyond 2^53 print exactly (JSON: as a string, since a number would round).
      const big = 'SELECT 9007199254740993 AS big, 7 AS small'
      expect((await run(['sql', t, big])).stdout).toContain('| 9007199254740993 | 7     |')
      expect(json(await run(['sql', t, big, '--json']))).toEqual([
        { big: '9007199254740993', small: 7 },
      ])
      expect((await run(['sql', t, big, '--csv'])).stdout).toBe(
        'big,small\r\n9007199254740993,7\r\n',
      )
    })

    it('sql refuses writes without --write (exit 2) and commits them with it', async () => {
      const t = await seeded('sql-write')
      const refused = await run(['sql', t, "INSERT INTO users (id, name) VALUES (3, 'cat')"])
      expect(refused.code).toBe(2)
      expect(refused.stderr).toMatch(/writes to the database: add --write/)
      expect(await names(t)).toEqual(['ann', 'bob'])
      const before = (await status(t)).seq
      const done = await run([
        'sql',
        t,
        "INSERT INTO users (id, name) VALUES (3, 'cat'); UPDATE users SET name = 'BOB' WHERE id = 2",
        '--write',
        '--json',
      ])
      expect(done.code, done.stderr).toBe(0)
      expect(json(done)).toEqual({ changes: 2, lastInsertRowid: 3, seq: before + 1 })
      expect(await names(t)).toEqual(['ann', 'BOB', 'cat'])
      // DDL goes through the same path (a DDL commit).
      const ddl = await run([
        'sql',
        t,
        'CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT)',
        '-w',
      ])
      expect(ddl.code, ddl.stderr).toBe(0)
      expect(ddl.stdout).toMatch(/^ok\ncommitted at seq \d+\n$/)
    })

    it('sql reports SQL errors in one line, with the stack only under --debug', async () => {
      const t = await seeded('sql-error')
      const r = await run(['sql', t, 'SELECT * FROM no_such_table'])
      expect(r.code).toBe(1)
      expectCleanError(r)
      expect(r.stderr).toMatch(/no such table: no_such_table/)
      const debug = await run(['sql', t, 'SELECT * FROM no_such_table', '--debug'])
      expect(debug.code).toBe(1)
      expect(debug.stderr).toMatch(/\n\s+at /)
    })

    it('pull writes a plain SQLite file and its seq; an edited copy pushes back', async () => {
      const t = await seeded('pull-push')
      const file = join(dir, 'pull-push.sqlite')
      const pulled = await run(['pull', t, '-o', file, '--json'])
      expect(pulled.code, pulled.stderr).toBe(0)
      const seq = json<{ seq: number }>(pulled).seq
      expect(JSON.parse(await readFile(`${file}.s3db-seq`, 'utf8'))).toMatchObject({ seq })
      expect(userNames(file)).toEqual(['ann', 'bob'])

      editSqlite(file, "INSERT INTO users (id, name) VALUES (3, 'cat')")
      const pushed = await run(['push', t, '-f', file, '--json'])
      expect(pushed.code, pushed.stderr).toBe(0)
      expect(json<{ seq: number }>(pushed).seq).toBe(seq + 1)
      expect(await names(t)).toEqual(['ann', 'bob', 'cat'])
      // The pull record follows the push, so the same file can be edited and pushed again.
      expect(JSON.parse(await readFile(`${file}.s3db-seq`, 'utf8'))).toMatchObject({ seq: seq + 1 })
      editSqlite(file, "DELETE FROM users WHERE name = 'ann'")
      const again = await run(['push', t, '-f', file])
      expect(again.code, again.stderr).toBe(0)
      expect(await names(t)).toEqual(['bob', 'cat'])
    })

    it('push refuses when someone wrote between pull and push, and --force overrides', async () => {
      const t = await seeded('race')
      const file = join(dir, 'race.sqlite')
      expect((await run(['pull', t, '-o', file])).code).toBe(0)
      editSqlite(file, "INSERT INTO users (id, name) VALUES (3, 'mine')")
      const other = await run(['sql', t, "INSERT INTO users (id, name) VALUES (4, 'theirs')", '-w'])
      expect(other.code, other.stderr).toBe(0)

      const refused = await run(['push', t, '-f', file])
      expect(refused.code).toBe(1)
      expectCleanError(refused)
      expect(refused.stderr).toMatch(/refusing to push: the database moved/)
      expect(refused.stderr).toMatch(/hint: pull again .*--force/)
      expect(await names(t)).toEqual(['ann', 'bob', 'theirs'])

      const forced = await run(['push', t, '-f', file, '--force'])
      expect(forced.code, forced.stderr).toBe(0)
      expect(await names(t)).toEqual(['ann', 'bob', 'mine'])
    })

    it('push of a file that is not SQLite fails and leaves the database alone', async () => {
      const t = await seeded('push-bad')
      const file = join(dir, 'push-bad.sqlite')
      expect((await run(['pull', t, '-o', file])).code).toBe(0)
      await writeFile(file, Buffer.alloc(8192, 7))
      const r = await run(['push', t, '-f', file])
      expect(r.code).toBe(1)
      expectCleanError(r)
      expect(r.stderr).toMatch(/not a SQLite database/)
      expect(await names(t)).toEqual(['ann', 'bob'])
    })

    it('push needs the pull record (or --force), and --create for a new database', async () => {
      const fresh = join(dir, 'fresh.sqlite')
      makeSqlite(fresh, ['zed'])
      const t = fx.target('push-create')
      const missing = await run(['push', t, '-f', fresh])
      expect(missing.code).toBe(1)
      expect(missing.stderr).toMatch(/no database at/)
      expect(missing.stderr).toMatch(/hint: add --create/)

      const created = await run(['push', t, '-f', fresh, '--create', '--json'])
      expect(created.code, created.stderr).toBe(0)
      expect(json(created)).toMatchObject({ created: true, seq: 0 })
      expect(await names(t)).toEqual(['zed'])

      const loose = join(dir, 'loose.sqlite')
      makeSqlite(loose, ['lou'])
      const noRecord = await run(['push', t, '-f', loose])
      expect(noRecord.code).toBe(1)
      expect(noRecord.stderr).toMatch(/loose\.sqlite\.s3db-seq does not exist/)
      expect(noRecord.stderr).toMatch(/hint: pull first/)
      expect(await names(t)).toEqual(['zed'])
    })

    it('status reports seq, log, epoch and object counts', async () => {
      const t = await seeded('status')
      for (const id of [3, 4]) {
        const r = await run([
          'sql',
          t,
          `INSERT INTO users (id, name) VALUES (${id}, 'u${id}')`,
          '-w',
        ])
        expect(r.code, r.stderr).toBe(0)
      }
      const s = await status(t)
      expect(s.seq).toBe(2)
      expect(s.log.length).toBe(2)
      expect(s.log.bytes).toBeGreaterThan(0)
      expect(s.snapshot.seq).toBe(0)
      expect(s.snapshot.key).toContain(`snapshots/${s.epoch}.sqlite`)
      expect(s.objects.snapshots.count).toBe(1)
      expect(s.objects.changesets.count).toBe(2)
      expect(s.unreferenced.count).toBe(0)
      const human = await run(['status', t])
      expect(human.stdout).toMatch(/^seq:\s+2$/m)
      expect(human.stdout).toMatch(/^log:\s+2 changesets/m)
      expect(human.stdout).toMatch(
        /^objects:\s+4 \(1 snapshot, 2 changesets, 0 history, 0 other\)/m,
      )
    })

    it('compact folds the log into a new snapshot; gc --dry-run lists, gc deletes', async () => {
      const t = await seeded('compact-gc')
      for (const id of [3, 4, 5]) {
        expect(
          (await run(['sql', t, `INSERT INTO users VALUES (${id}, 'u${id}')`, '-w'])).code,
        ).toBe(0)
      }
      const c = await run(['compact', t, '--json'])
      expect(c.code, c.stderr).toBe(0)
      expect(json(c)).toMatchObject({ compacted: true, folded: 3, seq: 3 })
      const after = await status(t)
      expect(after.log.length).toBe(0)
      expect(after.snapshot.seq).toBe(3)
      expect(after.unreferenced.count).toBe(4) // the old snapshot and three changesets
      const again = await run(['compact', t])
      expect(again.code).toBe(0)
      expect(again.stdout).toMatch(/nothing to compact/)

      const kept = await run(['gc', t, '--json'])
      expect(json(kept)).toMatchObject({ deleted: [] })
      expect(json<{ retained: string[] }>(kept).retained).toHaveLength(4)

      // Objects this young could be in-flight commits: kept whatever the grace.
      const young = await run(['gc', t, '--grace', '0', '--json'])
      expect(json(young)).toMatchObject({ deleted: [] })

      const dry = await run(['gc', t, '--grace', '0', '--min-age', '0', '--dry-run'])
      expect(dry.code, dry.stderr).toBe(0)
      expect(dry.stdout).toMatch(/^would delete 4 objects/)
      expect(dry.stdout.split('\n').filter((l) => l.startsWith('  '))).toHaveLength(4)
      expect((await status(t)).unreferenced.count).toBe(4)

      const real = await run(['gc', t, '--grace', '0s', '--min-age', '0'])
      expect(real.code, real.stderr).toBe(0)
      expect(real.stdout).toMatch(/^deleted 4 objects/)
      const end = await status(t)
      expect(end.unreferenced.count).toBe(0)
      // manifest + snapshot + the compaction's fold record (history/folds/)
      expect(end.objects.total.count).toBe(3)
      expect(end.objects.history.count).toBe(1)
      expect(await names(t)).toEqual(['ann', 'bob', 'u3', 'u4', 'u5'])

      const bad = await run(['gc', t, '--grace', 'soon'])
      expect(bad.code).toBe(2)
      expect(bad.stderr).toMatch(/invalid --grace "soon"/)
    })

    it('history: retention, log, sql --at, restore (refusing a schema change without --yes) and branch', async () => {
      const t = await seeded('history')
      const none = await run(['retention', t, '--json'])
      expect(none.code, none.stderr).toBe(0)
      expect(json(none)).toMatchObject({ retainMs: 0 })
      const set = await run(['retention', t, '7d'])
      expect(set.code, set.stderr).toBe(0)
      expect(set.stdout).toMatch(/set to 1w/)
      const badRetain = await run(['retention', t, 'forever'])
      expect(badRetain.code).toBe(2)
      expectCleanError(badRetain)
      for (const [i, sql] of [
        "INSERT INTO users VALUES (3, 'cat')",
        'UPDATE users SET name = upper(name) WHERE id < 3',
        'DELETE FROM users WHERE id = 1',
      ].entries()) {
        const w = await run(['sql', t, sql, '-w'])
        expect(w.code, w.stderr).toBe(0)
        expect(w.stdout).toMatch(new RegExp(`committed at seq ${i + 1}`))
      }
      // A compaction and a gc with no grace in between: the window still has it all.
      expect((await run(['compact', t])).code).toBe(0)
      expect((await run(['gc', t, '--grace', '0', '--min-age', '0'])).code).toBe(0)

      const log = await run(['log', t])
      expect(log.code, log.stderr).toBe(0)
      const lines = log.stdout.split('\n')
      expect(lines.find((l) => /^\|\s*3\s/.test(l))).toMatch(/users -1/)
      expect(lines.find((l) => /^\|\s*2\s/.test(l))).toMatch(/users ~2/)
      expect(lines.find((l) => /^\|\s*1\s/.test(l))).toMatch(/users \+1/)
      expect(lines.find((l) => /^\|\s*0\s/.test(l))).toMatch(/snapshot/)
      const logJson = json<{ entries: { seq: number; time: number }[] }>(
        await run(['log', t, '--json', '--limit', '2']),
      )
      expect(logJson.entries.map((e) => e.seq)).toEqual([3, 2])

      const past = await run([
        'sql',
        t,
        '--at',
        '1',
        'SELECT name FROM users ORDER BY id',
        '--json',
      ])
      expect(past.code, past.stderr).toBe(0)
      expect(json(past)).toEqual([{ name: 'ann' }, { name: 'bob' }, { name: 'cat' }])
      // By time: the commit time of seq 2 names seq 2.
      const t2 = logJson.entries[1]!.time
      const byTime = await run([
        'sql',
        t,
        '--at',
        new Date(t2).toISOString(),
        'SELECT name FROM users ORDER BY id',
        '--json',
      ])
      expect(json(byTime)).toEqual([{ name: 'ANN' }, { name: 'BOB' }, { name: 'cat' }])
      const write = await run(['sql', t, '--at', '1', 'DELETE FROM users'])
      expect(write.code).toBe(2)
      expect(write.stderr).toMatch(/read-only/)
      const badAt = await run(['sql', t, '--at', 'noon', 'SELECT 1'])
      expect(badAt.code).toBe(2)
      expect(badAt.stderr).toMatch(/invalid --at "noon"/)
      const tooOld = await run(['sql', t, '--at', '1999-01-01T00:00Z', 'SELECT 1'])
      expect(tooOld.code).toBe(1)
      expectCleanError(tooOld)
      expect(tooOld.stderr).toMatch(/oldest retained state/)

      const dry = await run(['restore', t, '--at', '1', '--dry-run'])
      expect(dry.code, dry.stderr).toBe(0)
      expect(dry.stdout).toMatch(/2 commits \(seq 2 to 3\) would be undone/)
      expect((await status(t)).seq).toBe(3)
      const restored = await run(['restore', t, '--at', '1', '--json'])
      expect(restored.code, restored.stderr).toBe(0)
      expect(json(restored)).toMatchObject({ restored: true, fromSeq: 1, seq: 4 })
      expect(await names(t)).toEqual(['ann', 'bob', 'cat'])
      // The restore is a commit like any other, and can be undone.
      const undo = await run(['restore', t, '--at', '3'])
      expect(undo.code, undo.stderr).toBe(0)
      expect(await names(t)).toEqual(['BOB', 'cat'])

      const b = fx.target('history-branch')
      const branched = await run(['branch', t, b, '--at', '2', '--json'])
      expect(branched.code, branched.stderr).toBe(0)
      expect(json(branched)).toMatchObject({ seq: 2, serverSide: true })
      expect(await names(b)).toEqual(['ANN', 'BOB', 'cat'])
      const again = await run(['branch', t, b])
      expect(again.code).toBe(1)
      expectCleanError(again)
      expect(await names(t)).toEqual(['BOB', 'cat'])

      // A state with another schema version (s3db migrations) needs --yes.
      const before = (await status(t)).seq
      const migrated = await S3db.open(fx.store, fx.prefix('history'), {
        migrations: [
          {
            version: 1,
            name: 'extra',
            up: (tx) => tx.exec('CREATE TABLE extra (id INTEGER PRIMARY KEY)'),
          },
        ],
      })
      await migrated.close()
      const refused = await run(['restore', t, '--at', String(before)])
      expect(refused.code).toBe(1)
      expectCleanError(refused)
      expect(refused.stderr).toMatch(/schema version goes from 1 back to 0/)
      expect(refused.stderr).toMatch(/--yes/)
      expect((await status(t)).seq).toBe(before + 1)
      const yes = await run(['restore', t, '--at', String(before), '--yes'])
      expect(yes.code, yes.stderr).toBe(0)
      const s = await status(t)
      expect(s.seq).toBe(before + 2)
      expect(s.schemaVersion).toBe(0)
    })

    it('doctor passes a healthy database and fails a store that ignores If-Match', async () => {
      const t = await seeded('doctor')
      const ok = await run(['doctor', t])
      expect(ok.code, ok.stdout + ok.stderr).toBe(0)
      expect(ok.stdout).not.toMatch(/FAIL/)
      expect(ok.stdout).toMatch(/PASS\s+compare-and-swap with a stale ETag/)
      expect(ok.stdout).toMatch(/PASS\s+referenced objects reachable/)
      expect(ok.stdout).toMatch(/verdict: healthy/)
      const asJson = json<{ ok: boolean; checks: { verdict: string }[] }>(
        await run(['doctor', t, '--json']),
      )
      expect(asJson.ok).toBe(true)
      expect(asJson.checks.length).toBeGreaterThanOrEqual(8)

      const broken = await run(['doctor', t], { env: { S3DB_CLI_TEST_IGNORE_CONDITIONS: '1' } })
      expect(broken.code).toBe(1)
      expect(broken.stdout).toMatch(/FAIL\s+compare-and-swap with a stale ETag/)
      expect(broken.stdout).toMatch(/FAIL\s+create-only write/)
      expect(broken.stdout).toMatch(/verdict: NOT SAFE/)
    })

    it('doctor fails when the database is missing or references a missing object', async () => {
      const none = await run(['doctor', fx.target('doctor-none')])
      expect(none.code).toBe(1)
      expect(none.stdout).toMatch(/PASS\s+credentials and bucket access/)
      expect(none.stdout).toMatch(/FAIL\s+manifest valid\s+no database at/)
      expect(none.stdout).toMatch(/verdict: the store is fine, but there is no database here/)

      const t = await seeded('doctor-broken')
      expect((await run(['sql', t, "INSERT INTO users VALUES (3, 'c')", '-w'])).code).toBe(0)
      // Delete the changeset behind the manifest's back (gc never would).
      expect(await fx.store.deletePrefix(`${fx.prefix('doctor-broken')}changesets/`)).toBe(1)
      const r = await run(['doctor', t])
      expect(r.code).toBe(1)
      expect(r.stdout).toMatch(
        /FAIL\s+referenced objects reachable\s+1 of 2 referenced objects are broken: missing: /,
      )
      expect(r.stdout).toMatch(/verdict: NOT SAFE TO USE/)
    })

    it('shell runs statements as views/updates and BEGIN ... COMMIT as one update', async () => {
      const t = await seeded('shell')
      const seq0 = (await status(t)).seq
      const input = [
        'SELECT count(*) AS n FROM users;',
        'BEGIN;',
        "INSERT INTO users VALUES (3, 'tmp');",
        'SELECT count(*) AS n FROM users;',
        'ROLLBACK;',
        'BEGIN;',
        "INSERT INTO users VALUES (3, 'cat');",
        'INSERT INTO users',
        "  VALUES (4, 'dog');",
        'COMMIT;',
        "UPDATE users SET name = 'ANN' WHERE id = 1;",
        'SELECT * FROM nope;',
        '.tables',
        '',
      ].join('\n')
      const history = join(dir, 'shell-history')
      const r = await run(['shell', t], { input, env: { S3DB_HISTORY: history } })
      // A failed statement in piped input makes the exit code 1, like sqlite3.
      expect(r.code).toBe(1)
      expect(r.stderr).toBe('Error: no such table: nope\n')
      const counts = [...r.stdout.matchAll(/^\| (\d+) +\|$/gm)].map((m) => Number(m[1]))
      expect(counts).toEqual([2, 3])
      expect(r.stdout).toMatch(/rolled back/)
      expect(r.stdout).toMatch(/committed 2 statements at seq \d+/)
      expect(r.stdout).toMatch(/^users$/m)
      expect(await names(t)).toEqual(['ANN', 'bob', 'cat', 'dog'])
      // ROLLBACK published nothing; the block was one commit, the UPDATE another.
      expect((await status(t)).seq).toBe(seq0 + 2)
      const lines = (await readFile(history, 'utf8')).trim().split('\n')
      expect(lines).toContain("INSERT INTO users VALUES (4, 'dog');")
      expect(lines.at(-1)).toBe('.tables')
    })

    it('shell: a block may create a table and fill it before COMMIT', async () => {
      const t = await seeded('shell-ddl')
      const input = [
        'BEGIN;',
        'CREATE TABLE pets (id INTEGER PRIMARY KEY, name TEXT);',
        "INSERT INTO pets VALUES (1, 'rex');",
        'SELECT name FROM pets;',
        'COMMIT;',
        '',
      ].join('\n')
      const r = await run(['shell', t], { input, env: { S3DB_HISTORY: join(dir, 'h2') } })
      expect(r.stderr).toBe('')
      expect(r.code).toBe(0)
      expect(r.stdout).toMatch(/^\| rex +\|$/m)
      expect(r.stdout).toMatch(/committed 3 statements at seq 1/)
      const pets = await run(['sql', t, 'SELECT name FROM pets', '--json'])
      expect(json(pets)).toEqual([{ name: 'rex' }])
    })
  })
}
