/**
 * CLI-level errors and how every error becomes one line on stderr with a hint.
 * Exit codes: 0 success, 1 failure, 2 usage error, 130 interrupted.
 *
 * @module
 */
import { isS3dbError } from '@s3db/core'

export const EXIT_OK = 0
export const EXIT_FAILURE = 1
export const EXIT_USAGE = 2
export const EXIT_INTERRUPTED = 130

/** The command line is wrong: exit 2 and point at --help. */
export class UsageError extends Error {
  readonly command: string | undefined
  constructor(message: string, command?: string) {
    super(message)
    this.name = 'UsageError'
    this.command = command
  }
}

/** A failure the CLI itself detected, with what to do about it. */
export class CliError extends Error {
  readonly hint: string | undefined
  constructor(message: string, hint?: string, options?: { cause?: unknown }) {
    super(message, options)
    this.name = 'CliError'
    this.hint = hint
  }
}

/** Exit code for an error thrown by a command. */
export function exitCodeFor(err: unknown): number {
  if (err instanceof UsageError) return EXIT_USAGE
  if (isS3dbError(err, 'Aborted')) return EXIT_INTERRUPTED
  return EXIT_FAILURE
}

/** A hint for the typed errors of @s3db/core (their messages already say what happened). */
function hintFor(err: unknown): string | undefined {
  if (err instanceof CliError) return err.hint
  if (!isS3dbError(err)) {
    const code = (err as NodeJS.ErrnoException)?.code
    if (code === 'ENOENT') return 'check the path'
    if (code === 'EACCES' || code === 'EPERM') return 'check the file permissions'
    return undefined
  }
  switch (err.code) {
    case 'AccessDenied':
      return 'check AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY (or AWS_PROFILE) and the bucket policy'
    case 'BucketNotFound':
      return 'check the bucket name in the target URL, the region, and AWS_ENDPOINT_URL'
    case 'StoreUnavailable':
      return /region is missing/i.test(err.message)
        ? 'set AWS_REGION (or a region in your AWS profile)'
        : 'check the network and AWS_ENDPOINT_URL; the store may be down, retry later'
    case 'SeqMismatch':
      return 'pull again and redo your edit, or push with --force to overwrite their writes'
    case 'AlreadyExists':
      return 'use `s3db push` to replace its contents'
    case 'NotFound':
      return 'no such object: is the target right? `s3db init` creates a database'
    case 'Corrupt':
      return 'run `s3db doctor <target>` for details'
    case 'FormatTooNew':
      return 'upgrade @s3db/cli'
    case 'WriteConflict':
      return 'other writers kept winning; retry later'
    case 'NoPrimaryKey':
      return 'every table s3db writes to needs a PRIMARY KEY'
    case 'LocalCacheLocked':
      return 'another process uses the same local cache file'
    default:
      return undefined
  }
}

const CREDENTIALS = ['AWS_SECRET_ACCESS_KEY', 'AWS_ACCESS_KEY_ID', 'AWS_SESSION_TOKEN'] as const

/**
 * Removes credentials from text that may reach the terminal. Only whole
 * occurrences count: the value standing on its own (`key AKIA... denied`,
 * `<AWSAccessKeyId>AKIA...</AWSAccessKeyId>`, `Credential=AKIA.../20240101/...`).
 * The same characters inside a longer name (a short key such as `test` inside
 * `/tmp/s3db-test-1/db`, or as a directory of a path) are not a credential and
 * stay as they are: scrubbing them mangled paths in error messages.
 */
export function redact(text: string, env: NodeJS.ProcessEnv = process.env): string {
  let out = text
  for (const name of CREDENTIALS) {
    const value = env[name]
    if (!value || value.length < 4) continue
    const escaped = value.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')
    // Not glued to a longer name before (letters, digits, _ + . - or a path's /)
    // nor after (the same, or a '.' that continues a name such as a file suffix).
    const whole = new RegExp(
      `(?<![A-Za-z0-9_+./-])${escaped}(?![A-Za-z0-9_+-]|\\.[A-Za-z0-9_])`,
      'g',
    )
    out = out.replace(whole, '[redacted]')
  }
  return out
}

/** An error as the CLI shows it: one line, a hint, and every cause's stack for --debug. */
export interface ShownError {
  message: string
  hint: string | undefined
  trace: string
}

/**
 * An error that happened in the SQL engine process (see engine/), already
 * described there; `trace` holds its stack chain for --debug.
 */
export class RemoteError extends CliError {
  readonly trace: string
  constructor(shown: ShownError) {
    super(shown.message, shown.hint)
    this.name = 'RemoteError'
    this.trace = shown.trace
  }
}

export function showError(err: unknown): ShownError {
  const message = (err instanceof Error ? err.message : String(err)).replace(/\s*\n\s*/g, ' ')
  if (err instanceof RemoteError) return { message, hint: err.hint, trace: err.trace }
  const lines: string[] = []
  let e: unknown = err
  while (e instanceof Error) {
    lines.push(e.stack ?? String(e))
    e = e.cause
    if (e !== undefined) lines.push('caused by:')
  }
  if (e !== undefined) lines.push(String(e))
  return {
    message,
    hint: err instanceof UsageError ? undefined : hintFor(err),
    trace: lines.join('\n'),
  }
}

/** The lines to print for an error: one line and a hint, or the full stack with `debug`. */
export function formatError(
  err: unknown,
  debug: boolean,
  env: NodeJS.ProcessEnv = process.env,
): string {
  const shown = showError(err)
  const lines = [`s3db: error: ${shown.message}`]
  if (err instanceof UsageError) {
    lines.push(`Run 's3db ${err.command ? `${err.command} ` : ''}--help' for usage.`)
  } else if (shown.hint) {
    lines.push(`hint: ${shown.hint}`)
  }
  if (debug) lines.push(shown.trace)
  return redact(`${lines.join('\n')}\n`, env)
}
