/**
 * Small SQL text helpers shared by capture and apply.
 *
 * @module
 */

/** Quotes an identifier for SQL text ("a""b"). */
export function quoteIdent(name: string): string {
  return `"${name.replaceAll('"', '""')}"`
}

/** ASCII-only lower-casing, the way SQLite compares identifiers. */
export function foldIdent(name: string): string {
  return name.replace(/[A-Z]+/g, (s) => s.toLowerCase())
}

/** `(a, b)` or `a` for one element: operands of a row-value comparison. */
export function rowValue(items: readonly string[]): string {
  return items.length === 1 ? items[0]! : `(${items.join(', ')})`
}
