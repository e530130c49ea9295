/**
 * Random schemas and workloads for the property tests (fast-check `gen` style, so
 * failures shrink to small scenarios).
 *
 * Schemas: 1-3 tables; rowid tables with INTEGER PRIMARY KEY, rowid tables with another
 * key (NULL keys allowed there, which capture must skip), WITHOUT ROWID tables;
 * composite keys whose order differs from column order; every column affinity;
 * generated columns (VIRTUAL and STORED); UNIQUE indexes (REPLACE evictions); foreign
 * keys with CASCADE / SET NULL / RESTRICT / NO ACTION, self-references included; user
 * triggers (cross-table and bounded recursion).
 * Workloads: INSERT (OR REPLACE / OR IGNORE / OR FAIL, multi-row, RETURNING), REPLACE,
 * UPSERT, UPDATE of values and of keys, DELETE, nested savepoints rolled back or
 * released; values of every kind (big integers, -0.0, infinities, NaN, empty text and
 * blobs, invalid UTF-8 text, text and blobs with the same bytes).
 *
 * Deliberately absent (the session extension itself misbehaves on them): REAL keys,
 * keys that are numerically equal but differ in type, keys under NOCASE-like collations.
 */

import fc from 'fast-check'
import type { Param } from './engines.js'
import type { Scenario, Stmt } from './harness.js'

type G = fc.GeneratorValue

/** A TEXT parameter given as bytes (bound as `CAST(? AS TEXT)`). */
interface Raw {
  raw: Uint8Array
}
type V = Param | Raw

const raw = (...b: number[]): Raw => ({ raw: new Uint8Array(b) })

const ANY: readonly V[] = [
  null,
  0n,
  1n,
  -1n,
  2n,
  7n,
  9007199254740993n,
  -(2n ** 63n),
  2n ** 63n - 1n,
  0,
  -0,
  1,
  1.5,
  -2.5,
  Number.POSITIVE_INFINITY,
  Number.NEGATIVE_INFINITY,
  1e300,
  5e-324,
  Number.NaN,
  '',
  'a',
  'b',
  'é',
  '😀',
  'a\u0000b',
  '\uFEFFx',
  '\uFFFD',
  '1',
  '2.5',
  ' 3 ',
  raw(0xff),
  raw(0xc0, 0x80),
  raw(0xed, 0xa0, 0x80),
  raw(0xf0, 0x9f, 0x98, 0x41),
  raw(0x61, 0xff),
  new Uint8Array(0),
  new Uint8Array([0]),
  new Uint8Array([0xff, 0x01]),
  new Uint8Array([0x61]),
]

type Domain = 'rowid' | 'pkint' | 'pktext' | 'pkany' | 'any'

const DOMAINS: Record<Domain, readonly V[]> = {
  rowid: [null, 1n, 2n, 3n, 4n, 5n, 6n, 2n ** 62n],
  pkint: [1n, 2n, 3n, 4n, 5n, -1n],
  pktext: ['a', 'b', 'c', 'é', '', raw(0xfe, 0x41)],
  pkany: [1n, 2n, 'a', 'b', new Uint8Array([1]), new Uint8Array([2]), '', raw(0xff)],
  any: ANY,
}

interface Col {
  name: string
  decl: string
  domain: Domain
  generated: boolean
}

interface Table {
  name: string
  cols: Col[]
  /** Column indexes of the key, in key order. */
  pk: number[]
  ipk: boolean
  withoutRowid: boolean
}

export interface GeneratedScenario extends Scenario {
  tables: Table[]
  hasTriggers: boolean
  hasFkActions: boolean
  hasForeignKeys: boolean
}

const q = (s: string) => `"${s.replaceAll('"', '""')}"`

function pick<T>(g: G, items: readonly T[]): T {
  return items[g(fc.nat, { max: items.length - 1 })]!
}

function chance(g: G, percent: number): boolean {
  return g(fc.nat, { max: 99 }) < percent
}

function shuffle<T>(g: G, items: readonly T[]): T[] {
  const out = [...items]
  for (let i = out.length - 1; i > 0; i--) {
    const j = g(fc.nat, { max: i })
    ;[out[i], out[j]] = [out[j]!, out[i]!]
  }
  return out
}

const TABLE_NAMES = ['t0', 't1', 'we"ird t']
const COL_NAMES = ['c0', 'c1', 'col 2', 'c3', 'C4', 'c5']
const PK_TYPES: readonly [string, Domain][] = [
  ['INT', 'pkint'],
  ['INTEGER', 'pkint'],
  ['TEXT', 'pktext'],
  ['', 'pkany'],
  ['BLOB', 'pkany'],
]
const VALUE_TYPES = ['INTEGER', 'INT', 'REAL', 'TEXT', 'BLOB', 'NUMERIC', '', 'FLOAT']

function genTable(
  g: G,
  name: string,
  parents: Table[],
  ddl: string[],
  fkActions: { any: boolean; fk: boolean },
  forceFk = false,
): Table {
  const nCols = g(fc.integer, { min: 2, max: 5 })
  const kind = pick(g, ['ipk', 'rowid', 'without'] as const)
  const cols: Col[] = []
  for (let i = 0; i < nCols; i++) {
    const t = pick(g, VALUE_TYPES)
    cols.push({ name: COL_NAMES[i]!, decl: t, domain: 'any', generated: false })
  }
  let pk: number[]
  if (kind === 'ipk') {
    pk = [0]
    cols[0] = { ...cols[0]!, decl: 'INTEGER', domain: 'rowid' }
  } else {
    const n =
      forceFk && parents.length === 0 ? 1 : g(fc.integer, { min: 1, max: Math.min(3, nCols - 1) })
    pk = shuffle(
      g,
      cols.map((_, i) => i),
    ).slice(0, n)
    for (const i of pk) {
      const [decl, domain] = pick(g, PK_TYPES)
      // A lone INTEGER key of a rowid table would be the rowid alias: covered by 'ipk'.
      cols[i] = {
        ...cols[i]!,
        decl: decl === 'INTEGER' && n === 1 && kind === 'rowid' ? 'INT' : decl,
        domain,
      }
    }
  }
  // Foreign key from a non-key (or key) column to a single-column key of a parent.
  const candidates = [...parents.filter((p) => p.pk.length === 1)]
  let fk = ''
  if (candidates.length > 0 && (forceFk || chance(g, 50))) {
    const parent = pick(g, candidates)
    const pcol = parent.cols[parent.pk[0]!]!
    const ci = g(fc.nat, { max: nCols - 1 })
    if (
      !(kind === 'ipk' && ci === 0) &&
      !(forceFk && pk.includes(ci) && kind !== 'ipk' && pk.length > 1)
    ) {
      cols[ci] = { ...cols[ci]!, domain: pcol.domain === 'rowid' ? 'pkint' : pcol.domain }
      const onDelete = pick(g, ['CASCADE', 'SET NULL', 'RESTRICT', 'NO ACTION'])
      const onUpdate = pick(g, ['CASCADE', 'SET NULL', 'NO ACTION'])
      fkActions.fk = true
      if (onDelete !== 'RESTRICT' && onDelete !== 'NO ACTION') fkActions.any = true
      if (onUpdate !== 'NO ACTION') fkActions.any = true
      fk = `, FOREIGN KEY (${q(COL_NAMES[ci]!)}) REFERENCES ${q(parent.name)}(${q(pcol.name)}) ON DELETE ${onDelete} ON UPDATE ${onUpdate}`
    }
  }
  // Generated column computed from a stored one, anywhere in the column list.
  if (chance(g, 30)) {
    const src = cols[g(fc.nat, { max: nCols - 1 })]!
    const stored = chance(g, 50)
    const at = g(fc.nat, { max: cols.length })
    const gen: Col = {
      name: 'gen',
      decl: `TEXT GENERATED ALWAYS AS (typeof(${q(src.name)})) ${stored ? 'STORED' : 'VIRTUAL'}`,
      domain: 'any',
      generated: true,
    }
    cols.splice(at, 0, gen)
    pk = pk.map((i) => (i >= at ? i + 1 : i))
  }
  const table: Table = { name, cols, pk, ipk: kind === 'ipk', withoutRowid: kind === 'without' }
  const colDefs = cols.map((c, i) =>
    table.ipk && i === pk[0] ? `${q(c.name)} INTEGER PRIMARY KEY` : `${q(c.name)} ${c.decl}`,
  )
  const key = table.ipk ? '' : `, PRIMARY KEY (${pk.map((i) => q(cols[i]!.name)).join(', ')})`
  ddl.push(
    `CREATE TABLE ${q(name)} (${colDefs.join(', ')}${key}${fk})${table.withoutRowid ? ' WITHOUT ROWID' : ''}`,
  )
  const plain = cols.map((c, i) => ({ c, i })).filter(({ c, i }) => !c.generated && !pk.includes(i))
  if (plain.length > 0 && chance(g, 40)) {
    const u = pick(g, plain).c
    ddl.push(`CREATE UNIQUE INDEX ${q(`${name}_u`)} ON ${q(name)}(${q(u.name)})`)
  }
  // Parents referenced by later tables may also reference themselves.
  return table
}

function value(g: G, col: Col): V {
  return pick(g, DOMAINS[col.domain])
}

/** SQL placeholder and parameter for a value. */
function bind(v: V, params: Param[]): string {
  if (v !== null && typeof v === 'object' && 'raw' in v) {
    params.push(Buffer.from(v.raw))
    return 'CAST(? AS TEXT)'
  }
  params.push(v as Param)
  return '?'
}

const writable = (t: Table) => t.cols.filter((c) => !c.generated)

function keyWhere(g: G, t: Table, params: Param[]): string {
  const cols = t.pk.map((i) => t.cols[i]!)
  const lhs = cols.length === 1 ? q(cols[0]!.name) : `(${cols.map((c) => q(c.name)).join(', ')})`
  const rhs = cols.map((c) => bind(value(g, c), params))
  return `${lhs} = ${cols.length === 1 ? rhs[0] : `(${rhs.join(', ')})`}`
}

function insertRow(g: G, cols: Col[], params: Param[]): string {
  return `(${cols.map((c) => bind(value(g, c), params)).join(', ')})`
}

function genStatement(g: G, tables: Table[], depth: number, counter: { sp: number }): Stmt[] {
  const t = pick(g, tables)
  const T = q(t.name)
  const cols = writable(t)
  const nonKey = cols.filter((c) => !t.pk.some((i) => t.cols[i] === c))
  const params: Param[] = []
  const kind = g(fc.nat, { max: depth < 2 ? 11 : 10 })
  switch (kind) {
    case 0:
    case 1: {
      const verb = pick(g, [
        'INSERT',
        'INSERT OR REPLACE',
        'INSERT OR IGNORE',
        'INSERT OR FAIL',
        'REPLACE',
      ])
      const n = g(fc.integer, { min: 1, max: 3 })
      const rows = Array.from({ length: n }, () => insertRow(g, cols, params))
      const returning = chance(g, 15) ? ' RETURNING *' : ''
      return [
        {
          sql: `${verb} INTO ${T} (${cols.map((c) => q(c.name)).join(', ')}) VALUES ${rows.join(', ')}${returning}`,
          params,
        },
      ]
    }
    case 2: {
      const row = insertRow(g, cols, params)
      const set =
        nonKey.length > 0 && chance(g, 75)
          ? `DO UPDATE SET ${q(pick(g, nonKey).name)} = excluded.${q(pick(g, nonKey).name)}`
          : 'DO NOTHING'
      return [
        {
          sql: `INSERT INTO ${T} (${cols.map((c) => q(c.name)).join(', ')}) VALUES ${row} ON CONFLICT ${set}`,
          params,
        },
      ]
    }
    case 3:
    case 4: {
      if (nonKey.length === 0) return []
      const verb = pick(g, ['UPDATE', 'UPDATE', 'UPDATE OR REPLACE', 'UPDATE OR IGNORE'])
      const c = pick(g, nonKey)
      const set = `${q(c.name)} = ${bind(value(g, c), params)}`
      return [{ sql: `${verb} ${T} SET ${set} WHERE ${keyWhere(g, t, params)}`, params }]
    }
    case 5: {
      const verb = pick(g, ['UPDATE', 'UPDATE OR REPLACE', 'UPDATE OR IGNORE'])
      const k = t.cols[pick(g, t.pk)]!
      const set = `${q(k.name)} = ${bind(value(g, k), params)}`
      return [{ sql: `${verb} ${T} SET ${set} WHERE ${keyWhere(g, t, params)}`, params }]
    }
    case 6: {
      const c = pick(g, cols)
      const w = pick(g, cols)
      const rhs = chance(g, 30) ? q(pick(g, cols).name) : bind(value(g, c), params)
      const where = chance(g, 20)
        ? `${q(w.name)} IS NULL`
        : `${q(w.name)} = ${bind(value(g, w), params)}`
      return [{ sql: `UPDATE OR IGNORE ${T} SET ${q(c.name)} = ${rhs} WHERE ${where}`, params }]
    }
    case 7:
      return [{ sql: `DELETE FROM ${T} WHERE ${keyWhere(g, t, params)}`, params }]
    case 8: {
      const w = pick(g, cols)
      return [{ sql: `DELETE FROM ${T} WHERE ${q(w.name)} = ${bind(value(g, w), params)}`, params }]
    }
    case 9:
      return chance(g, 30)
        ? [{ sql: `DELETE FROM ${T}` }]
        : [{ sql: `UPDATE ${T} SET ${q(pick(g, cols).name)} = NULL WHERE rowid % 2 = 0 OR 1` }]
    case 10: {
      const c = pick(g, cols)
      return [
        { sql: `UPDATE OR REPLACE ${T} SET ${q(c.name)} = ${bind(value(g, c), params)}`, params },
      ]
    }
    default: {
      const name = `sp${counter.sp++}`
      const body = Array.from({ length: g(fc.integer, { min: 1, max: 4 }) }, () =>
        genStatement(g, tables, depth + 1, counter),
      ).flat()
      const end = pick(g, ['rollback', 'release', 'rollback-release'])
      const tail =
        end === 'rollback'
          ? [{ sql: `ROLLBACK TO ${name}` }]
          : end === 'release'
            ? [{ sql: `RELEASE ${name}` }]
            : [
                { sql: `ROLLBACK TO ${name}` },
                ...genStatement(g, tables, depth + 1, counter),
                { sql: `RELEASE ${name}` },
              ]
      return [{ sql: `SAVEPOINT ${name}` }, ...body, ...tail]
    }
  }
}

/** Statements that change data (for workloads and for diverging apply targets). */
export function genStatements(g: G, tables: Table[], min: number, max: number): Stmt[] {
  const counter = { sp: 0 }
  const n = g(fc.integer, { min, max })
  return Array.from({ length: n }, () => genStatement(g, tables, 0, counter)).flat()
}

function genTriggers(g: G, tables: Table[]): string[] {
  const out: string[] = []
  const n = g(fc.integer, { min: 1, max: 2 })
  for (let k = 0; k < n; k++) {
    const a = pick(g, tables)
    const b = pick(g, tables)
    const aKey = a.cols[a.pk[0]!]!
    const bCols = writable(b).filter((c) => !b.pk.some((i) => b.cols[i] === c))
    const name = q(`trg${k}`)
    const template = g(fc.nat, { max: 2 })
    if (template === 0 && bCols.length > 0) {
      const c = pick(g, bCols)
      out.push(
        `CREATE TRIGGER ${name} AFTER INSERT ON ${q(a.name)} BEGIN UPDATE ${q(b.name)} SET ${q(c.name)} = typeof(NEW.${q(aKey.name)}) WHERE ${q(b.cols[b.pk[0]!]!.name)} = NEW.${q(aKey.name)}; END`,
      )
    } else if (template === 1) {
      // Deletes only flow to later tables: a cycle would recurse until SQLite's depth
      // limit, an error SQLite 3.54 reports without rolling the statement back unless
      // some trigger may raise errors (ours do), which makes the comparison moot.
      if (tables.indexOf(b) <= tables.indexOf(a)) continue
      const c = pick(g, writable(b))
      out.push(
        `CREATE TRIGGER ${name} ${pick(g, ['BEFORE', 'AFTER'])} DELETE ON ${q(a.name)} BEGIN DELETE FROM ${q(b.name)} WHERE ${q(c.name)} = OLD.${q(aKey.name)}; END`,
      )
    } else {
      const c = pick(
        g,
        writable(a)
          .filter((x) => !a.pk.some((i) => a.cols[i] === x))
          .concat(aKey),
      )
      if (a.pk.some((i) => a.cols[i] === c)) continue
      const where = a.pk
        .map((i) => `${q(a.cols[i]!.name)} = NEW.${q(a.cols[i]!.name)}`)
        .join(' AND ')
      out.push(
        `CREATE TRIGGER ${name} AFTER UPDATE OF ${q(c.name)} ON ${q(a.name)} WHEN typeof(NEW.${q(c.name)}) = 'integer' AND NEW.${q(c.name)} BETWEEN -5 AND 5 BEGIN UPDATE ${q(a.name)} SET ${q(c.name)} = NEW.${q(c.name)} + 1 WHERE ${where}; END`,
      )
    }
  }
  return out
}

/** A random scenario: schema, starting data, workload. */
export function genScenario(
  g: G,
  options: { triggers?: boolean; foreignKeys?: boolean } = {},
): GeneratedScenario {
  const nTables = g(fc.integer, { min: options.foreignKeys ? 2 : 1, max: 3 })
  const ddl: string[] = []
  const tables: Table[] = []
  const fkActions = { any: false, fk: false }
  for (let i = 0; i < nTables; i++) {
    // A table may reference itself: pass it as its own candidate parent afterwards.
    const t = genTable(g, TABLE_NAMES[i]!, tables, ddl, fkActions, options.foreignKeys === true)
    tables.push(t)
  }
  const triggers = options.triggers !== false && chance(g, 30) ? genTriggers(g, tables) : []
  const setup: Stmt[] = []
  for (const t of tables) {
    const n = g(fc.integer, { min: 0, max: 6 })
    const cols = writable(t)
    for (let i = 0; i < n; i++) {
      const params: Param[] = []
      setup.push({
        sql: `INSERT OR IGNORE INTO ${q(t.name)} (${cols.map((c) => q(c.name)).join(', ')}) VALUES ${insertRow(g, cols, params)}`,
        params,
      })
    }
  }
  const work = genStatements(g, tables, 1, 10)
  return {
    schema: ddl.join(';\n'),
    triggers: triggers.length ? triggers.join(';\n') : undefined,
    setup,
    work,
    tables,
    hasTriggers: triggers.length > 0,
    hasFkActions: fkActions.any,
    hasForeignKeys: fkActions.fk,
  }
}

const showParam = (v: Param) =>
  v instanceof Uint8Array
    ? `x'${Buffer.from(v).toString('hex')}'`
    : typeof v === 'bigint'
      ? `${v}n`
      : JSON.stringify(v)

/** Printable statements with their parameters. */
export function showStatements(stmts: readonly Stmt[]): string {
  return stmts.map((st) => `${st.sql}  ${(st.params ?? []).map(showParam).join(', ')}`).join('\n')
}

/** Printable form of a scenario for failure reports. */
export function show(s: Scenario): string {
  return [
    s.schema,
    s.triggers ?? '',
    '-- setup',
    showStatements(s.setup ?? []),
    '-- work',
    showStatements(s.work),
  ].join('\n')
}
