/**
 * A one-line progress bar for snapshot uploads/downloads and compaction, drawn
 * on stderr. Shown only when stdout is a terminal (never in scripts or with
 * --json); S3DB_PROGRESS=1 forces it on, S3DB_PROGRESS=0 off.
 *
 * @module
 */
import type { ProgressEvent } from '@s3db/core'
import type { Io } from './command.js'
import { formatBytes } from './output.js'

export function progressEnabled(io: Io, env: NodeJS.ProcessEnv, json: boolean): boolean {
  if (env.S3DB_PROGRESS === '1') return true
  if (env.S3DB_PROGRESS === '0' || json) return false
  return io.stdout.isTTY === true
}

const WIDTH = 30
const LABELS: Record<ProgressEvent['operation'], string> = {
  'snapshot-download': 'downloading snapshot',
  'snapshot-upload': 'uploading snapshot',
  'branch-copy': 'copying objects',
}

export class ProgressBar {
  readonly #stream: NodeJS.WritableStream
  readonly #enabled: boolean
  #drawn = false
  #lastDraw = 0

  constructor(stream: NodeJS.WritableStream, enabled: boolean) {
    this.#stream = stream
    this.#enabled = enabled
  }

  /** Receives core's progress events (also accepts any other event and ignores it). */
  readonly onEvent = (event: { type: string }): void => {
    if (event.type === 'progress') this.update(event as ProgressEvent)
  }

  update(event: ProgressEvent): void {
    if (!this.#enabled) return
    const finished = event.bytesDone >= event.bytesTotal
    const now = Date.now()
    // Redraw at most ten times a second, but always draw the start and the end.
    if (this.#drawn && !finished && now - this.#lastDraw < 100) return
    this.#lastDraw = now
    const ratio = event.bytesTotal > 0 ? Math.min(1, event.bytesDone / event.bytesTotal) : 1
    const filled = Math.round(ratio * WIDTH)
    const bar = `${'#'.repeat(filled)}${'.'.repeat(WIDTH - filled)}`
    const pct = `${Math.floor(ratio * 100)}`.padStart(3)
    this.#stream.write(
      `\r${LABELS[event.operation]} [${bar}] ${pct}% ${formatBytes(event.bytesDone)}/${formatBytes(event.bytesTotal)}\x1b[K`,
    )
    this.#drawn = true
    if (finished) this.end()
  }

  /** Ends the current bar's line (call before printing anything else). */
  end(): void {
    if (this.#drawn) this.#stream.write('\n')
    this.#drawn = false
  }
}
