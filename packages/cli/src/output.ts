/**
 * Small printers: aligned tables, key/value lists, CSV (RFC 4180) and JSON that
 * survives BigInt and BLOB values.
 *
 * @module
 */

/** "1 changeset", "2 changesets". */
export function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`
}

export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`
  const units = ['KiB', 'MiB', 'GiB', 'TiB']
  let v = n / 1024
  let i = 0
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024
    i++
  }
  return `${v.toFixed(v < 10 ? 1 : 0)} ${units[i]}`
}

function isBytes(v: unknown): v is Uint8Array {
  return v instanceof Uint8Array
}

function hex(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex')
}

/** A SQL value as table text: NULL, numbers, text, X'..' for blobs. */
export function tableValue(v: unknown): string {
  if (v === null || v === undefined) return 'NULL'
  if (isBytes(v)) return `X'${hex(v)}'`
  return String(v).replace(/\r?\n/g, '\\n').replace(/\t/g, '\\t')
}

/** A SQL value as CSV text: empty for NULL, hex for blobs. */
export function csvValue(v: unknown): string {
  if (v === null || v === undefined) return ''
  if (isBytes(v)) return hex(v)
  return String(v)
}

function csvField(s: string): string {
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s
}

export function csv(headers: readonly string[], rows: readonly (readonly unknown[])[]): string {
  const lines = [headers.map(csvField).join(',')]
  for (const row of rows) lines.push(row.map((v) => csvField(csvValue(v))).join(','))
  return `${lines.join('\r\n')}\r\n`
}

/** JSON that prints BigInt as numbers when exact (else strings) and blobs as hex. */
export function toJson(value: unknown, pretty = true): string {
  return JSON.stringify(
    value,
    function (this: unknown, key: string, v: unknown) {
      // Buffer has toJSON, so look at the raw property rather than `v`.
      const raw = key === '' ? v : (this as Record<string, unknown>)[key]
      if (typeof raw === 'bigint') {
        return Number.isSafeInteger(Number(raw)) ? Number(raw) : raw.toString()
      }
      if (isBytes(raw)) return hex(raw)
      return v
    },
    pretty ? 2 : undefined,
  )
}

/** An ASCII table with a header row. */
export function table(headers: readonly string[], rows: readonly (readonly unknown[])[]): string {
  const cells = rows.map((r) => r.map(tableValue))
  const widths = headers.map((h, i) => Math.max(h.length, ...cells.map((r) => (r[i] ?? '').length)))
  const rule = `+${widths.map((w) => '-'.repeat(w + 2)).join('+')}+`
  const line = (values: readonly string[]) =>
    `| ${values.map((v, i) => v.padEnd(widths[i] ?? 0)).join(' | ')} |`
  const out = [rule, line(headers), rule, ...cells.map(line)]
  if (cells.length > 0) out.push(rule)
  return `${out.join('\n')}\n`
}

/** Aligned `key  value` lines (for status and results). */
export function keyValues(pairs: readonly (readonly [string, string])[]): string {
  const width = Math.max(0, ...pairs.map(([k]) => k.length))
  return `${pairs.map(([k, v]) => `${`${k}:`.padEnd(width + 1)}  ${v}`).join('\n')}\n`
}
