/**
 * Remembers which SQL texts are read-only, so a statement outside a
 * transaction goes straight to a view or an update after its first run.
 *
 * @module
 */

/** Most SQL texts remembered per database (least recently added are dropped first). */
const MAX_ENTRIES = 1024

/** Whether each known SQL text is read-only (`stmt.readonly`), for one database. */
export class StatementKinds {
  readonly #readonly = new Map<string, boolean>()

  /** True/false when known, undefined when this SQL was never prepared. */
  isReadonly(sql: string): boolean | undefined {
    return this.#readonly.get(sql)
  }

  remember(sql: string, readonly: boolean): void {
    if (this.#readonly.size >= MAX_ENTRIES && !this.#readonly.has(sql)) {
      this.#readonly.delete(this.#readonly.keys().next().value as string)
    }
    this.#readonly.set(sql, readonly)
  }
}

const kinds = new WeakMap<object, StatementKinds>()

/** The shared cache for `db` (every dialect and connection over it uses the same one). */
export function statementKindsOf(db: object): StatementKinds {
  let k = kinds.get(db)
  if (!k) {
    k = new StatementKinds()
    kinds.set(db, k)
  }
  return k
}
