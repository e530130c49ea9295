import { UsageError } from './errors.js'

const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }

/** Parses a duration like 30s, 5m, 1h, 2d, 250ms or 0 into milliseconds. */
export function parseDuration(text: string, option: string, command: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)?$/.exec(text.trim())
  if (!m || (m[2] === undefined && Number(m[1]) !== 0)) {
    throw new UsageError(
      `invalid ${option} ${JSON.stringify(text)}: use a duration like 30s, 5m, 1h or 0`,
      command,
    )
  }
  return Math.round(Number(m[1]) * UNITS[m[2] ?? 'ms']!)
}
