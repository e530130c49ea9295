/**
 * Splits SQL text into statements at top-level semicolons, skipping quoted
 * strings/identifiers and comments, and keeping `CREATE TRIGGER ... BEGIN ...;
 * ... END;` whole. Also tells whether text ends in a complete statement (the
 * shell keeps reading lines until it does), like sqlite3_complete().
 *
 * @module
 */

export interface SplitResult {
  /** Complete statements, trimmed, without their trailing semicolon. */
  statements: string[]
  /** Text after the last complete statement (non-empty when input is unfinished). */
  rest: string
}

const WORD = /[A-Za-z_][A-Za-z0-9_$]*/y

export function splitSql(text: string): SplitResult {
  const statements: string[] = []
  let start = 0
  let i = 0
  // Words of the current statement, uppercased, to spot CREATE ... TRIGGER.
  let words: string[] = []
  let depth = 0
  const isTrigger = () => {
    const [a, b, c] = words
    return (
      a === 'CREATE' &&
      (b === 'TRIGGER' || ((b === 'TEMP' || b === 'TEMPORARY') && c === 'TRIGGER'))
    )
  }
  while (i < text.length) {
    const ch = text[i]!
    if (ch === "'" || ch === '"' || ch === '`' || ch === '[') {
      const close = ch === '[' ? ']' : ch
      i++
      while (i < text.length) {
        if (text[i] === close) {
          // A doubled quote is an escaped quote (not for [...]).
          if (close !== ']' && text[i + 1] === close) {
            i += 2
            continue
          }
          break
        }
        i++
      }
      if (i >= text.length) return { statements, rest: text.slice(start) }
      i++
      continue
    }
    if (ch === '-' && text[i + 1] === '-') {
      const nl = text.indexOf('\n', i)
      i = nl === -1 ? text.length : nl + 1
      continue
    }
    if (ch === '/' && text[i + 1] === '*') {
      const end = text.indexOf('*/', i + 2)
      if (end === -1) return { statements, rest: text.slice(start) }
      i = end + 2
      continue
    }
    WORD.lastIndex = i
    const word = WORD.exec(text)
    if (word) {
      const w = word[0].toUpperCase()
      words.push(w)
      if (isTrigger()) {
        if (w === 'BEGIN' || w === 'CASE') depth++
        else if (w === 'END' && depth > 0) depth--
      }
      i += word[0].length
      continue
    }
    if (ch === ';' && depth === 0) {
      const stmt = text.slice(start, i).trim()
      if (stmt !== '') statements.push(stmt)
      start = i + 1
      words = []
    }
    i++
  }
  return { statements, rest: text.slice(start) }
}

/** True when text holds nothing but whitespace and comments. */
export function isBlankSql(text: string): boolean {
  return (
    text
      .replace(/--[^\n]*(\n|$)/g, '')
      .replace(/\/\*[\s\S]*?\*\//g, '')
      .trim() === ''
  )
}

/** All statements of a complete SQL text (the last one may lack its semicolon). */
export function statementsOf(text: string): string[] {
  const { statements, rest } = splitSql(text)
  if (!isBlankSql(rest)) statements.push(rest.trim())
  return statements
}

export type TxControl = 'begin' | 'commit' | 'rollback'

/** Recognises BEGIN/COMMIT/END/ROLLBACK (not ROLLBACK TO a savepoint). */
export function txControl(statement: string): TxControl | undefined {
  const s = statement
    .replace(/^(\s*(--[^\n]*\n|\/\*[\s\S]*?\*\/))*\s*/, '')
    .replace(/;\s*$/, '')
    .trim()
  if (/^begin(\s+(deferred|immediate|exclusive))?(\s+transaction)?$/i.test(s)) return 'begin'
  if (/^(commit|end)(\s+transaction)?$/i.test(s)) return 'commit'
  if (/^rollback(\s+transaction)?$/i.test(s)) return 'rollback'
  return undefined
}
