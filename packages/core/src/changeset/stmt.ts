/**
 * Prepared statements whose parameters are changeset values. A TEXT value that is
 * not valid UTF-8 ({@link RawText}) can only be bound exactly as a BLOB cast back to
 * TEXT, so each statement exists in variants, one per pattern of such parameters,
 * prepared on first use; the plain variant is the only one normally used.
 *
 * @module
 */

import type { Database, Statement } from 'better-sqlite3'
import type { Value } from './types.js'
import { isRawText, toParam } from './values.js'

/** Builds SQL text; `p(i)` is the placeholder of value i (0-based). */
export type SqlBuilder = (p: (i: number) => string) => string

/**
 * A statement over value parameters. better-sqlite3 binds only anonymous `?` by
 * position (it takes `?NNN` for a named parameter), so placeholders are plain `?` and
 * the values are reordered to the order the builder asked for them.
 */
export class ValueStatement {
  private readonly db: Database
  private readonly build: SqlBuilder
  private plain: Statement | undefined
  private variants: Map<string, Statement> | undefined
  /** Value index of each `?`, in SQL text order. */
  private order: number[] = []
  private readonly params: unknown[] = []

  constructor(db: Database, build: SqlBuilder) {
    this.db = db
    this.build = build
  }

  private prepare(raw: ReadonlySet<number> | undefined): Statement {
    const order: number[] = []
    const sql = this.build((i) => {
      order.push(i)
      return raw?.has(i) ? 'CAST(? AS TEXT)' : '?'
    })
    this.order = order
    const st = this.db.prepare(sql)
    if (st.reader) st.raw(true)
    return st.safeIntegers(true)
  }

  private statement(values: readonly unknown[]): Statement {
    let raw: Set<number> | undefined
    for (let i = 0; i < values.length; i++) {
      if (!isRawText(values[i])) continue
      raw ??= new Set()
      raw.add(i)
    }
    if (raw === undefined) {
      this.plain ??= this.prepare(undefined)
      return this.plain
    }
    const key = [...raw].join(',')
    this.variants ??= new Map()
    let st = this.variants.get(key)
    if (st === undefined) {
      st = this.prepare(raw)
      this.variants.set(key, st)
    }
    return st
  }

  private bind(values: readonly unknown[]): unknown[] {
    const order = this.order
    const params = this.params
    params.length = order.length
    for (let k = 0; k < order.length; k++) {
      const v = values[order[k]!]
      params[k] = v === undefined ? null : toParam(v as Value)
    }
    return params
  }

  /** Runs a write; returns the number of rows it changed (sqlite3_changes). */
  run(values: readonly unknown[]): number {
    const st = this.statement(values)
    return st.run(...this.bind(values)).changes
  }

  /** First row (as an array), or undefined. */
  get(values: readonly unknown[]): unknown[] | undefined {
    const st = this.statement(values)
    return st.get(...this.bind(values)) as unknown[] | undefined
  }
}
