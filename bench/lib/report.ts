/**
 * Benchmark output: an aligned table on stdout and bench/results/<name>.json with
 * the rows, run metadata, Node version and date, so numbers can be compared
 * across runs and machines.
 */
import { mkdirSync, writeFileSync } from 'node:fs'
import { cpus } from 'node:os'
import { join } from 'node:path'

export type Row = Record<string, string | number>

export function report(name: string, rows: Row[], meta: Record<string, unknown> = {}): void {
  const columns = [...new Set(rows.flatMap((r) => Object.keys(r)))]
  const cell = (v: string | number | undefined) =>
    v === undefined
      ? ''
      : typeof v === 'number'
        ? Number.isInteger(v)
          ? String(v)
          : v.toFixed(v < 10 ? 3 : 1)
        : v
  const widths = columns.map((c) => Math.max(c.length, ...rows.map((r) => cell(r[c]).length)))
  const line = (values: string[]) => values.map((v, i) => v.padStart(widths[i] ?? 0)).join('  ')
  process.stdout.write(
    `\n## ${name}\n${line(columns)}\n${line(widths.map((w) => '-'.repeat(w)))}\n`,
  )
  for (const r of rows) process.stdout.write(`${line(columns.map((c) => cell(r[c])))}\n`)
  const dir = join(import.meta.dirname, '..', 'results')
  mkdirSync(dir, { recursive: true })
  const out = {
    name,
    date: new Date().toISOString(),
    node: process.version,
    cpu: cpus()[0]?.model ?? 'unknown',
    cores: cpus().length,
    meta,
    rows,
  }
  writeFileSync(join(dir, `${name}.json`), `${JSON.stringify(out, null, 2)}\n`)
}
