/** Small measurement helpers shared by the scenarios. */
import type { RequestCounts } from '@s3db/core'

export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return Number.NaN
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))
  return sorted[i]!
}

/** The middle value (the upper one of an even count). */
export function median(xs: readonly number[]): number {
  return [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!
}

export function summarize(latencies: number[]): { p50: number; p99: number; mean: number } {
  const sorted = [...latencies].sort((a, b) => a - b)
  const mean = sorted.reduce((a, b) => a + b, 0) / Math.max(1, sorted.length)
  return { p50: percentile(sorted, 50), p99: percentile(sorted, 99), mean }
}

export function perOp(c: RequestCounts, ops: number): Record<string, number> {
  const r = (n: number) => Math.round((n / ops) * 100) / 100
  return { GET: r(c.get), PUT: r(c.put), LIST: r(c.list), HEAD: r(c.head), DELETE: r(c.delete) }
}

/** Samples peak RSS while `fn` runs. */
export async function peakRss<T>(fn: () => Promise<T>): Promise<{ value: T; peakMiB: number }> {
  let peak = process.memoryUsage().rss
  const timer = setInterval(() => {
    peak = Math.max(peak, process.memoryUsage().rss)
  }, 10)
  try {
    const value = await fn()
    peak = Math.max(peak, process.memoryUsage().rss)
    return { value, peakMiB: Math.round(peak / 1048576) }
  } finally {
    clearInterval(timer)
  }
}

export interface BenchOptions {
  quick: boolean
  latencyMs: number
  /** Per-connection bandwidth of the memory store (0 = unlimited). */
  bytesPerSecond?: number
  /** An S3 endpoint (MinIO) when available. */
  s3?:
    | { endpoint: string; accessKeyId: string; secretAccessKey: string; region: string }
    | undefined
  /** `processes` scenario: process counts, duration per row, baseline git ref ('none': skip), workloads. */
  processes?: number[] | undefined
  durationMs?: number | undefined
  baseline?: string | undefined
  workloads?: Array<'disjoint' | 'hot'> | undefined
  stores?: Array<'filesystem' | 's3'> | undefined
}
