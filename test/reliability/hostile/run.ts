/**
 * Runs one hostile case against one store, as a cold start (nothing local) and
 * as a warm replica that was at seq 3 when the damage appeared. Every operation
 * (open, view, update, gc, compact, and the CLI's status and pull) must answer
 * with the case's typed error, or succeed with exactly the right rows; a
 * listing of the store (keys, ETags, sizes) before and after each one proves
 * that a refusal wrote and deleted nothing, and that a success only added
 * objects in the database's own namespace and moved the manifest.
 */
import { existsSync } from 'node:fs'
import { mkdtemp, readdir, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Readable, Writable } from 'node:stream'
import { type BlobStore, isS3dbError, S3db, S3dbError, type S3dbErrorCode } from '@s3db/core'
import { afterAll, describe, expect, it } from 'vitest'
import { main } from '../../../packages/cli/src/main.js'
import type { HostileCase, Outcome } from './cases.js'
import {
  fullKey,
  healthy,
  healthyAt3,
  listing,
  ROWS_AT_3,
  ROWS_AT_4,
  type Row,
  rowsOfFile,
  writeState,
} from './fixture.js'

/** An empty place in a store for one run. */
export interface Place {
  store: BlobStore
  /** Everything a run may touch lies under this ('' = the whole store). */
  root: string
  /** The CLI target of a database prefix here; absent when the CLI cannot reach the store. */
  target?: ((prefix: string) => string) | undefined
  env?: NodeJS.ProcessEnv | undefined
  dispose(): Promise<void>
}

export type PlaceFactory = () => Promise<Place>

/** Outcomes seen, per case and operation: the table in the report. */
export type Outcomes = Map<string, Map<string, string>>

const GC = { gracePeriod: 0, minAge: 0 }
const NEW_ROW: Row = { id: 99, v: 'new' }

async function outcomeOf(fn: () => Promise<unknown>): Promise<string> {
  try {
    await fn()
    return 'ok'
  } catch (err) {
    if (isS3dbError(err)) return err.code
    return `raw error: ${(err as Error)?.stack ?? String(err)}`
  }
}

/** FORMAT.md's names for snapshots and changesets, written out here independently of core. */
function isOwnDataKey(prefix: string, key: string): boolean {
  if (!key.startsWith(prefix)) return false
  const rel = key.slice(prefix.length)
  return (
    /^snapshots\/snap-[^/]+\.sqlite$/.test(rel) ||
    /^changesets\/[^/]+\/cs-[^/]+\.bin$/.test(rel) ||
    // The fold record a snapshot switch (compaction) writes: format/history.ts.
    /^history\/folds\/snap-[^/]+\/f-[^/]+\.json$/.test(rel)
  )
}

class Run {
  readonly place: Place
  readonly prefix: string
  readonly label: string
  readonly outcomes: Map<string, string>
  readonly gcMayDelete: Set<string>

  constructor(place: Place, c: HostileCase, outcomes: Map<string, string>) {
    this.place = place
    this.prefix = `${place.root}app/db/`
    this.label = c.name
    this.outcomes = outcomes
    this.gcMayDelete = new Set((c.gcMayDelete ?? []).map((k) => fullKey(this.prefix, k)))
  }

  /**
   * Runs one operation: its outcome must be `expected`; a refusal (and any
   * read) leaves the store exactly as it was; a successful write only moves
   * the manifest and adds this database's own objects.
   */
  async op(
    name: string,
    expected: Outcome,
    kind: 'read' | 'write' | 'gc',
    fn: () => Promise<unknown>,
  ): Promise<void> {
    const { store, root } = this.place
    const before = await listing(store, root)
    const outcome = await outcomeOf(fn)
    const after = await listing(store, root)
    const added = [...after.keys()].filter((k) => !before.has(k))
    // An optimistic writer uploads its changeset before the manifest CAS tells
    // it the database is damaged; it removes the upload again, so a refused
    // write leaves the store exactly as it was (checked below).
    this.outcomes.set(name, outcome !== 'ok' && added.length > 0 ? `${outcome}, orphan` : outcome)
    expect(outcome, `${this.label}: ${name}`).toBe(expected)
    if (kind === 'write' && outcome === 'ok') {
      for (const [key, value] of before) {
        if (outcome === 'ok' && key === `${this.prefix}manifest.json`) continue
        expect(after.get(key), `${this.label}: ${name} changed ${key}`).toBe(value)
      }
      for (const key of added)
        expect(isOwnDataKey(this.prefix, key), `${this.label}: ${name} wrote ${key}`).toBe(true)
    } else {
      const expectedAfter = new Map(before)
      // An orphan gc may collect: deleted now, or later (store clocks tick in seconds).
      if (outcome === 'ok' && kind === 'gc')
        for (const k of this.gcMayDelete) if (!after.has(k)) expectedAfter.delete(k)
      expect(Object.fromEntries(after), `${this.label}: ${name} changed the store`).toEqual(
        Object.fromEntries(expectedAfter),
      )
    }
  }

  async view(db: S3db, rows: Row[]): Promise<void> {
    const got = await db.view((tx) => tx.all<Row>('SELECT id, v FROM t ORDER BY id'))
    expect(got).toEqual(rows)
  }

  async insert(db: S3db): Promise<void> {
    await db.update((tx) => tx.run('INSERT INTO t (id, v) VALUES (?, ?)', [NEW_ROW.id, NEW_ROW.v]))
  }

  /** `s3db status` and `s3db pull`, in process, as a user types them. */
  async cli(c: HostileCase, rows: Row[]): Promise<void> {
    const { target, env } = this.place
    if (!target) return
    const t = target(this.prefix)
    await this.op('cli status', c.manifest, 'read', async () => {
      const r = await cli(['status', t, '--json'], env)
      throwCliOutcome(r)
      const status = JSON.parse(r.stdout) as { seq: number }
      expect(typeof status.seq).toBe('number')
    })
    const out = await mkdtemp(join(tmpdir(), 's3db-hostile-pull-'))
    try {
      const file = join(out, 'pulled.sqlite')
      await this.op('cli pull', c.data, 'read', async () => {
        const r = await cli(['pull', t, '-o', file, '--json'], env)
        try {
          throwCliOutcome(r)
        } finally {
          if (r.code !== 0) {
            // Refused: no file, not even a partial one or a temp file.
            expect(await readdir(out)).toEqual([])
          }
        }
        expect(rowsOfFile(file)).toEqual(rows)
      })
      if (c.data !== 'ok') expect(existsSync(file)).toBe(false)
    } finally {
      await rm(out, { recursive: true, force: true })
    }
  }
}

interface CliRun {
  code: number
  stdout: string
  stderr: string
}

async function cli(args: string[], env: NodeJS.ProcessEnv | undefined): Promise<CliRun> {
  let stdout = ''
  let stderr = ''
  const sink = (append: (s: string) => void) =>
    new Writable({
      write(chunk, _encoding, done) {
        append(String(chunk))
        done()
      },
    })
  const code = await main(args, {
    io: {
      stdout: sink((s) => {
        stdout += s
      }),
      stderr: sink((s) => {
        stderr += s
      }),
      stdin: Readable.from([]),
    },
    env: { ...env },
  })
  return { code, stdout, stderr }
}

/** The hint the CLI prints for each error code it has one for (errors.ts). */
const HINTS: [RegExp, S3dbErrorCode][] = [
  [/^hint: run `s3db doctor <target>` for details$/m, 'Corrupt'],
  [/^hint: upgrade @s3db\/cli$/m, 'FormatTooNew'],
]

/**
 * Throws a coded error for a failed CLI run: one clean error line (no stack),
 * and the hint of the core error's code.
 */
function throwCliOutcome(r: CliRun): void {
  if (r.code === 0) {
    expect(r.stderr).toBe('')
    return
  }
  expect(r.code, r.stderr).toBe(1)
  expect(r.stderr).toMatch(/^s3db: error: /)
  expect(r.stderr).not.toMatch(/\n\s+at /)
  const code = HINTS.find(([re]) => re.test(r.stderr))?.[1]
  if (!code) throw new Error(`CLI failed without a known hint: ${r.stderr}`)
  throw new S3dbError(code, r.stderr)
}

/** Cold: the store holds the damaged database; nothing is cached locally. */
export async function runCold(
  make: PlaceFactory,
  c: HostileCase,
  outcomes: Outcomes,
): Promise<void> {
  const place = await make()
  const seen = new Map<string, string>()
  outcomes.set(c.name, seen)
  try {
    const run = new Run(place, c, seen)
    const state = healthy()
    c.tamper(state)
    await writeState(place.store, run.prefix, state)
    const rows = c.rows ?? ROWS_AT_4
    await run.op('gc', c.manifest, 'gc', () => S3db.gc(place.store, run.prefix, GC))
    await run.cli(c, rows)
    let db: S3db | undefined
    await run.op('open', c.data, 'read', async () => {
      db = await S3db.open(place.store, run.prefix, { autoCompact: false })
    })
    if (!db) return
    const opened: S3db = db
    try {
      await run.op('view', 'ok', 'read', () => run.view(opened, rows))
      const update = c.update ?? 'ok'
      await run.op('update', update, 'write', () => run.insert(opened))
      await run.op('compact', 'ok', 'write', () => opened.compact())
    } finally {
      await opened.close()
    }
    const final = c.update === undefined || c.update === 'ok' ? [...rows, NEW_ROW] : rows
    await run.op('reopen', 'ok', 'read', async () => {
      const again = await S3db.open(place.store, run.prefix, { autoCompact: false })
      try {
        await run.view(again, final)
      } finally {
        await again.close()
      }
    })
  } finally {
    await place.dispose()
  }
}

/**
 * Warm: a process whose replica is at seq 3 (it still needs the last
 * changeset) when the store is damaged, then reads, writes, collects and
 * compacts.
 */
export async function runWarm(
  make: PlaceFactory,
  c: HostileCase,
  outcomes: Outcomes,
): Promise<void> {
  const place = await make()
  const seen = new Map<string, string>()
  outcomes.set(`${c.name} (warm)`, seen)
  const dir = await mkdtemp(join(tmpdir(), 's3db-hostile-warm-'))
  try {
    const run = new Run(place, c, seen)
    const base = healthyAt3()
    await writeState(place.store, run.prefix, base)
    const db = await S3db.open(place.store, run.prefix, {
      autoCompact: false,
      localPath: join(dir, 'replica.sqlite'),
    })
    try {
      await run.view(db, ROWS_AT_3)
      const state = healthy()
      c.tamper(state)
      await writeState(place.store, run.prefix, state, base)
      const warm = c.warm ?? (c.manifest !== 'ok' ? c.manifest : c.data)
      const rows = c.rows ?? ROWS_AT_4
      await run.op('warm view', warm, 'read', () => run.view(db, rows))
      const update = warm === 'ok' ? (c.update ?? 'ok') : warm
      await run.op('warm update', update, 'write', () => run.insert(db))
      await run.op('warm gc', c.manifest, 'gc', () => db.gc(GC))
      await run.op('warm compact', warm, 'write', () => db.compact())
    } finally {
      await db.close()
    }
  } finally {
    await rm(dir, { recursive: true, force: true })
    await place.dispose()
  }
}

/** The outcomes as a Markdown table, one row per case (for the report and docs). */
export function outcomeTable(outcomes: Outcomes): string {
  const ops = [
    'gc',
    'cli status',
    'cli pull',
    'open',
    'view',
    'update',
    'compact',
    'warm view',
    'warm update',
    'warm gc',
    'warm compact',
  ]
  const lines = [`| case | ${ops.join(' | ')} |`, `| --- | ${ops.map(() => '---').join(' | ')} |`]
  const names = [...outcomes.keys()].filter((k) => !k.endsWith(' (warm)'))
  for (const name of names) {
    const cold = outcomes.get(name)!
    const warm = outcomes.get(`${name} (warm)`) ?? new Map()
    const cell = (op: string) => (op.startsWith('warm') ? warm.get(op) : cold.get(op)) ?? ''
    lines.push(`| ${name} | ${ops.map(cell).join(' | ')} |`)
  }
  return lines.join('\n')
}

/**
 * Declares the whole suite for one store: every case cold and warm. Set
 * S3DB_HOSTILE_TABLE=1 to print the outcome table.
 */
export function hostileSuite(
  label: string,
  make: PlaceFactory,
  cases: readonly HostileCase[],
): void {
  const outcomes: Outcomes = new Map()
  describe(`hostile store (${label})`, () => {
    it.each(cases.map((c) => [c.name, c] as const))('%s', async (_name, c) => {
      await runCold(make, c, outcomes)
      await runWarm(make, c, outcomes)
    })
    afterAll(() => {
      if (process.env.S3DB_HOSTILE_TABLE === '1')
        console.log(`\n${label}\n${outcomeTable(outcomes)}`)
    })
  })
}
