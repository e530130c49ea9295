/**
 * Runs one scenario (schema, starting data, a transaction) on better-sqlite3 with our
 * capture and on SQLite's own session extension (wasm), and cross-checks everything:
 * the workload behaves the same, the changesets mean the same, each side's changeset
 * applied by the other side's apply reproduces the final database.
 */

import Database from 'better-sqlite3'
import { expect } from 'vitest'
import {
  applyChangeset,
  type ChangeCaptureOptions,
  type Changeset,
  decodeChangeset,
  encodeChangeset,
  type Field,
  RawText,
} from '../../src/changeset/index.js'
import { ApplyConflictError } from '../../src/errors.js'
import {
  BetterEngine,
  type ConflictRecord,
  type Engine,
  loadWasm,
  type Param,
  type Policy,
  WasmEngine,
} from './engines.js'

export interface Stmt {
  sql: string
  params?: Param[]
}

export interface Scenario {
  /** Tables and indexes. */
  schema: string
  /** User triggers (dropped on apply targets: their effects are in the changeset). */
  triggers?: string
  /** Starting data (failures are fine, they happen identically everywhere). */
  setup?: Stmt[]
  /** The transaction under test. */
  work: Stmt[]
  /**
   * The transaction changes the schema: its changeset describes the new schema, so
   * it cannot be applied to the starting database (s3db publishes a snapshot then).
   */
  changesSchema?: boolean
  /**
   * SQLite's own apply cannot take this changeset (tables wider than its expression
   * depth limit of 1000): skip that cross-check.
   */
  sqliteCannotApply?: boolean
}

export interface ScenarioResult {
  ours: Uint8Array | null
  theirs: Uint8Array
  /** Ours equals theirs byte for byte once their indirect flags are cleared. */
  sameBytes: boolean
  /** Their changeset had indirect changes (user triggers / FK actions). */
  theirsIndirect: boolean
  outcomes: boolean[]
  final: string
  /** The two SQLite versions disagreed on the workload itself (see checkScenario). */
  engineDiff: boolean
}

const hex = (b: Uint8Array) => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex')

function fieldKey(v: Field): string {
  if (v === undefined) return 'u'
  if (v === null) return 'n'
  if (typeof v === 'bigint') return `i${v}`
  if (typeof v === 'number') return `r${Object.is(v, -0) ? '-0' : String(v)}`
  if (typeof v === 'string') return `t${Buffer.from(v, 'utf8').toString('hex')}`
  if (v instanceof RawText) return `t${hex(v.bytes)}`
  return `b${hex(v)}`
}

/** Changeset as a comparable structure: per table (by name) its header and sorted changes. */
export function normalize(cs: Changeset): Record<string, { pk: string; changes: string[] }> {
  const out: Record<string, { pk: string; changes: string[] }> = {}
  for (const t of cs.tables) {
    out[t.name] ??= { pk: t.pk.join(','), changes: [] }
    const entry = out[t.name]!
    for (const c of t.changes) {
      const old = c.op === 'INSERT' ? [] : c.old
      const neu = c.op === 'DELETE' ? [] : c.new
      entry.changes.push(
        `${c.op} old=${old.map(fieldKey).join(',')} new=${neu.map(fieldKey).join(',')}`,
      )
    }
  }
  for (const e of Object.values(out)) e.changes.sort()
  return out
}

/** Their changeset with every indirect flag cleared (we always write 0). */
export function clearIndirect(bytes: Uint8Array): { bytes: Uint8Array; had: boolean } {
  const cs = decodeChangeset(bytes)
  let had = false
  const tables = cs.tables.map((t) => ({
    ...t,
    changes: t.changes.map((c) => {
      if (c.indirect) had = true
      return { ...c, indirect: false }
    }),
  }))
  return { bytes: encodeChangeset({ tables }), had }
}

function runAll(e: Engine, stmts: readonly Stmt[]): boolean[] {
  return stmts.map((s) => e.run(s.sql, s.params).ok)
}

function triggerNames(e: BetterEngine): string[] {
  return e.db
    .prepare("SELECT name FROM sqlite_schema WHERE type = 'trigger'")
    .pluck()
    .all() as string[]
}

/** A database in the scenario's starting state, without user triggers and FK enforcement. */
function startState<E extends Engine>(e: E, s: Scenario, triggers: readonly string[]): E {
  e.exec(s.schema)
  if (s.triggers) e.exec(s.triggers)
  runAll(e, s.setup ?? [])
  for (const t of triggers) e.exec(`DROP TRIGGER "${t.replaceAll('"', '""')}"`)
  e.exec('PRAGMA foreign_keys = OFF')
  return e
}

/** Runs the scenario everywhere and asserts every cross-check; returns what it saw. */
export async function checkScenario(
  s: Scenario,
  captureOptions?: ChangeCaptureOptions,
): Promise<ScenarioResult> {
  const sqlite3 = await loadWasm()
  const ours = new BetterEngine()
  const theirs = new WasmEngine(sqlite3)
  const engines: Engine[] = [ours, theirs]
  try {
    ours.exec(s.schema)
    theirs.exec(s.schema)
    if (s.triggers) {
      ours.exec(s.triggers)
      theirs.exec(s.triggers)
    }
    theirs.exec('PRAGMA recursive_triggers = ON')
    expect(runAll(theirs, s.setup ?? [])).toEqual(runAll(ours, s.setup ?? []))
    const start = ours.dump()
    expect(theirs.dump()).toEqual(start)
    const triggers = triggerNames(ours)

    const capture = ours.startCapture(captureOptions)
    ours.exec('BEGIN IMMEDIATE')
    capture.reset()
    const ourRuns = s.work.map((st) => ours.run(st.sql, st.params))
    const outcomes = ourRuns.map((o) => o.ok)
    const ourBytes = capture.changeset()
    ours.exec('COMMIT')
    const final = ours.dump()
    const keyedFinal = ours.dump(true)

    theirs.startSession()
    theirs.exec('BEGIN IMMEDIATE')
    const theirRuns = s.work.map((st) => theirs.run(st.sql, st.params))
    const theirOutcomes = theirRuns.map((o) => o.ok)
    theirs.exec('COMMIT')
    const theirBytes = theirs.sessionChangeset()
    const theirFinal = theirs.dump()
    if (theirFinal !== final || theirOutcomes.some((ok, i) => ok !== outcomes[i])) {
      // SQLite 3.53 (wasm) and 3.54 (better-sqlite3) disagree on a few statements
      // (e.g. some UPDATE OR REPLACE). That is not capture's doing as long as
      // better-sqlite3 without capture behaves exactly like with it; the changeset
      // checks below then use our result only.
      const plain = new BetterEngine()
      engines.push(plain)
      plain.exec(s.schema)
      if (s.triggers) plain.exec(s.triggers)
      plain.exec('PRAGMA recursive_triggers = ON')
      runAll(plain, s.setup ?? [])
      plain.exec('BEGIN')
      const plainOutcomes = runAll(plain, s.work)
      plain.exec('COMMIT')
      // Multi-row UPDATE OR IGNORE / OR REPLACE depend on the order rows are visited,
      // which SQL leaves open and the presence of triggers can change.
      const orderDependent = s.work.some((st) => /UPDATE OR (IGNORE|REPLACE)/.test(st.sql))
      expect(
        { outcomes: plainOutcomes, final: orderDependent ? '' : plain.dump() },
        `capture changes no statement's outcome; ours: ${ourRuns.map((o) => o.error ?? 'ok').join(' / ')}; theirs: ${theirRuns.map((o) => o.error ?? 'ok').join(' / ')}`,
      ).toEqual({ outcomes, final: orderDependent ? '' : final })
      if (ourBytes !== null) {
        const target = startState(new BetterEngine(), s, triggers)
        engines.push(target)
        applyChangeset(target.db, ourBytes)
        expect(target.dump(true), 'our apply reproduces the result').toEqual(keyedFinal)
      }
      return {
        ours: ourBytes,
        theirs: theirBytes,
        sameBytes: false,
        theirsIndirect: false,
        outcomes,
        final,
        engineDiff: true,
      }
    }

    // (a) same meaning
    if (ourBytes === null) expect(theirBytes.length, 'empty net effect').toBe(0)
    const ourCs = decodeChangeset(ourBytes ?? new Uint8Array())
    expect(normalize(ourCs)).toEqual(normalize(decodeChangeset(theirBytes)))
    const cleared = clearIndirect(theirBytes)
    const sameBytes = hex(ourBytes ?? new Uint8Array()) === hex(cleared.bytes)

    // (b) SQLite applies ours and gets the final state
    if (ourBytes !== null && !s.changesSchema && !s.sqliteCannotApply) {
      const target = startState(new WasmEngine(sqlite3), s, triggers)
      engines.push(target)
      const r = target.apply(ourBytes, () => 'abort')
      expect(r.conflicts, 'SQLite applies our changeset without conflicts').toEqual([])
      expect(r.rc).toBe(0)
      expect(target.dump(true), 'SQLite applying ours reproduces the result').toEqual(keyedFinal)
    }
    // (c) we apply theirs (and ours) and get the final state
    for (const bytes of [theirBytes, ourBytes]) {
      if (bytes === null || bytes.length === 0 || s.changesSchema) continue
      const target = startState(new BetterEngine(), s, triggers)
      engines.push(target)
      applyChangeset(target.db, bytes)
      expect(target.dump(true), 'our apply reproduces the result').toEqual(keyedFinal)
    }
    return {
      ours: ourBytes,
      theirs: theirBytes,
      sameBytes,
      theirsIndirect: cleared.had,
      outcomes,
      final,
      engineDiff: false,
    }
  } finally {
    for (const e of engines) e.close()
  }
}

export type ApplyOutcome = 'ok' | 'abort' | 'misuse' | 'constraint' | `error:${string}`

export interface DivergentResult {
  conflicts: ConflictRecord[]
  outcome: ApplyOutcome
  /** The engines disagreed on the drift statements: nothing was compared. */
  skipped?: boolean
}

/**
 * Applies `bytes` to the scenario's starting state changed by `mutations` (user
 * triggers and foreign keys on, as on a real replica), once with SQLite's apply and once
 * with ours, under the same policy; asserts both report the same conflicts in the same
 * order, end the same way and leave the same database.
 */
export async function checkDivergent(
  s: Scenario,
  mutations: readonly Stmt[],
  bytes: Uint8Array,
  policy: Policy,
): Promise<DivergentResult> {
  const sqlite3 = await loadWasm()
  const theirs = new WasmEngine(sqlite3)
  const ours = new BetterEngine()
  try {
    for (const e of [theirs, ours] as Engine[]) {
      e.exec(s.schema)
      if (s.triggers) e.exec(s.triggers)
      e.exec('PRAGMA recursive_triggers = ON')
      runAll(e, s.setup ?? [])
    }
    const drifted = [runAll(theirs, mutations), runAll(ours, mutations)]
    if (
      JSON.stringify(drifted[0]) !== JSON.stringify(drifted[1]) ||
      theirs.dump() !== ours.dump()
    ) {
      // The two SQLite versions disagree on the drift itself (see checkScenario).
      return { conflicts: [], outcome: 'ok', skipped: true }
    }
    const r = theirs.apply(bytes, policy)
    if ((r.rc & 0xff) === 19 && r.rc !== 19) {
      // SQLite 3.53 lets the constraint error of its "move the row out of the way"
      // retry escape instead of asking the policy; 3.54 (and we) report CONSTRAINT.
      return { conflicts: r.conflicts, outcome: 'constraint', skipped: true }
    }
    const theirOutcome: ApplyOutcome =
      r.rc === 0
        ? 'ok'
        : r.rc === 4
          ? 'abort'
          : r.rc === 21
            ? 'misuse'
            : r.rc === 19
              ? 'constraint'
              : `error:${r.rc}`

    const conflicts: ConflictRecord[] = []
    let outcome: ApplyOutcome = 'ok'
    try {
      applyChangeset(ours.db, bytes, {
        onConflict: (c) => {
          const op = c.change?.op ?? ''
          conflicts.push(`${c.kind}:${c.table}:${op}`)
          return policy(c.kind, c.table, op)
        },
      })
    } catch (e) {
      if (e instanceof ApplyConflictError)
        outcome = e.kind === 'FOREIGN_KEY' ? 'constraint' : 'abort'
      else if ((e as { code?: string }).code === 'InvalidArgument') outcome = 'misuse'
      else if ((e as { code?: string }).code === 'Corrupt')
        outcome = 'error:1' // SQLITE_ERROR
      else outcome = `error:${(e as Error).message}`
    }
    if (
      s.triggers &&
      conflicts.some((c) => c.startsWith('CONSTRAINT')) &&
      !r.conflicts.some((c) => c.startsWith('CONSTRAINT'))
    ) {
      // A user trigger fails with a constraint inside the "move the row out of the
      // way" retry: SQLite 3.53 (the oracle) ends up applying the UPDATE without its
      // trigger's effect; 3.54 (whose code we follow) reports CONSTRAINT.
      return { conflicts, outcome, skipped: true }
    }
    expect(conflicts, 'same conflicts in the same order').toEqual(r.conflicts)
    expect(outcome).toEqual(theirOutcome)
    expect(ours.dump(), 'same resulting database').toEqual(theirs.dump())
    return { conflicts, outcome, skipped: false }
  } finally {
    theirs.close()
    ours.close()
  }
}

/** A plain better-sqlite3 database for unit tests. */
export function memoryDb(): Database.Database {
  return new Database(':memory:')
}
