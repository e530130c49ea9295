/**
 * SQL of the TEMP triggers that feed {@link ChangeCapture}.
 *
 * Why these timings: a row must be recorded before anything modifies it, so that its
 * first recorded state is its state at the start of the transaction.
 * - BEFORE DELETE / BEFORE UPDATE see the row intact (OLD) and fire before REPLACE
 *   evictions, FK actions and user triggers (TEMP triggers fire first).
 * - An UPDATE that moves a row to a new key also records the new key's current state
 *   (usually "absent"), looked up in SQL: an ON UPDATE CASCADE may touch the moved
 *   row again before any AFTER trigger runs.
 * - AFTER INSERT: a new key's rowid is only known afterwards; nothing can touch the
 *   row between the insert and this trigger (no FK actions on insert).
 *
 * Each call passes plain values first; the function answers 1 when the row is new and
 * a string may hide invalid UTF-8 (see values.ts), and the exact form, pairs of
 * `typeof(x)` and `x` with text cast to BLOB, is then passed in a second call.
 * SQLite functions take at most 1000 arguments, so long argument lists are split
 * into several calls the function reassembles.
 *
 * @module
 */

import type { TableLayout } from './schema.js'
import { quoteIdent, rowValue } from './sql.js'

/** Kinds of calls (low 3 bits of the code). */
export const K_INSERT = 0
export const K_OLD = 1
export const K_DELETE = 2
export const K_NEWKEY = 3
export const K_NOPK = 4
/** The arguments are exact (type, value) pairs. */
export const F_EXACT = 8
/** More arguments follow in another call. */
export const F_PARTIAL = 16
/** code = slot * CODE_SLOTS + kind | flags */
export const CODE_SLOTS = 32
/** Asks the function whether the exact form is wanted (split calls only). */
export const Q_NEED_EXACT = -1

/** SQLite's limit on function arguments (SQLITE_MAX_FUNCTION_ARG). */
export const MAX_FUNCTION_ARGS = 1000

const CUR = '"_s3db_cur"'

function exact(ref: string): string[] {
  return [`typeof(${ref})`, `iif(typeof(${ref}) = 'text', CAST(${ref} AS BLOB), ${ref})`]
}

function chunks<T>(items: readonly T[], size: number): T[][] {
  const out: T[][] = []
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size))
  return out
}

function calls(
  fn: string,
  code: number,
  plain: readonly string[],
  exactArgs: readonly string[],
  from: string,
  where: string | null,
  maxArgs: number,
): string[] {
  const w = where === null ? '' : ` WHERE ${where}${from ? ' LIMIT 1' : ''}`
  if (plain.length < maxArgs && exactArgs.length < maxArgs) {
    return [
      `SELECT CASE WHEN ${fn}(${code}, ${plain.join(', ')}) THEN ${fn}(${code | F_EXACT}, ${exactArgs.join(', ')}) END${from}${w}`,
    ]
  }
  const out: string[] = []
  const plainParts = chunks(plain, maxArgs - 1)
  plainParts.forEach((part, i) => {
    const c = i < plainParts.length - 1 ? code | F_PARTIAL : code
    out.push(`SELECT ${fn}(${c}, ${part.join(', ')})${from}${w}`)
  })
  const need =
    where === null
      ? ` WHERE ${fn}(${Q_NEED_EXACT})`
      : ` WHERE (${where}) AND ${fn}(${Q_NEED_EXACT})`
  const exactParts = chunks(exactArgs, maxArgs - 1)
  exactParts.forEach((part, i) => {
    const c = i < exactParts.length - 1 ? code | F_EXACT | F_PARTIAL : code | F_EXACT
    out.push(`SELECT ${fn}(${c}, ${part.join(', ')})${from}${need}`)
  })
  return out
}

function trigger(name: string, timing: string, table: string, body: readonly string[]): string {
  return `CREATE TEMP TRIGGER ${quoteIdent(name)} ${timing} ON main.${quoteIdent(table)} BEGIN ${body.map((s) => `${s};`).join(' ')} END`
}

/**
 * CREATE TEMP TRIGGER statements for one table. `prefix` names them (the capture
 * finds and drops its triggers by this prefix), `fn` is the capture function.
 */
export function captureTriggers(
  fn: string,
  prefix: string,
  slot: number,
  layout: TableLayout,
  maxArgs = MAX_FUNCTION_ARGS,
): string[] {
  const base = slot * CODE_SLOTS
  const t = layout.name
  if (layout.pkColumns.length === 0) {
    const body = [`SELECT ${fn}(${base + K_NOPK})`]
    return [
      trigger(`${prefix}${slot}_i`, 'BEFORE INSERT', t, body),
      trigger(`${prefix}${slot}_u`, 'BEFORE UPDATE', t, body),
      trigger(`${prefix}${slot}_d`, 'BEFORE DELETE', t, body),
    ]
  }
  const cols = layout.columns.map(quoteIdent)
  const pkCols = layout.pkColumns.map((i) => cols[i]!)
  const ref = (alias: string) => (c: string) => `${alias}.${c}`
  const oldAll = cols.map(ref('OLD'))
  const oldAllExact = oldAll.flatMap(exact)
  const newPk = pkCols.map(ref('NEW'))
  const newPkExact = newPk.flatMap(exact)
  const curAll = cols.map(ref(CUR))
  const exists = `${CUR}.${pkCols[0]} IS NOT NULL`

  const insert = calls(fn, base + K_INSERT, newPk, newPkExact, '', null, maxArgs)
  const del = calls(fn, base + K_DELETE, oldAll, oldAllExact, '', null, maxArgs)
  const update = [
    ...calls(fn, base + K_OLD, oldAll, oldAllExact, '', null, maxArgs),
    ...calls(
      fn,
      base + K_NEWKEY,
      [...newPk, exists, ...curAll],
      [...newPkExact, exists, ...curAll.flatMap(exact)],
      // The row holding the new key now, other than the row being updated (a key may
      // change type or case yet still compare equal to the old one).
      ` FROM (SELECT 1) LEFT JOIN main.${quoteIdent(t)} AS ${CUR} ON ${rowValue(pkCols.map(ref(CUR)))} IS ${rowValue(newPk)} AND NOT ${rowValue(pkCols.map(ref(CUR)))} IS ${rowValue(pkCols.map(ref('OLD')))}`,
      // The key changes when any key value changes type or bytes: the session
      // extension compares keys that way, not with SQL equality. Keys with a NULL are
      // never recorded, and LIMIT 1 keeps a split call to one row.
      `(${pkCols
        .map(
          (c) =>
            `typeof(NEW.${c}) IS NOT typeof(OLD.${c}) OR CAST(NEW.${c} AS BLOB) IS NOT CAST(OLD.${c} AS BLOB)`,
        )
        .join(' OR ')}) AND ${pkCols.map((c) => `NEW.${c} IS NOT NULL`).join(' AND ')}`,
      maxArgs,
    ),
  ]
  return [
    trigger(`${prefix}${slot}_i`, 'AFTER INSERT', t, insert),
    trigger(`${prefix}${slot}_u`, 'BEFORE UPDATE', t, update),
    trigger(`${prefix}${slot}_d`, 'BEFORE DELETE', t, del),
  ]
}
