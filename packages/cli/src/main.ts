/**
 * The `s3db` command: dispatches to one command, maps every outcome to an exit
 * code (0 ok, 1 failure, 2 usage, 130 interrupted) and prints errors as one line
 * with a hint (full stack with --debug).
 *
 * @module
 */
import { readFileSync } from 'node:fs'
import { isS3dbError } from '@s3db/core'
import {
  type CommandContext,
  type CommandSpec,
  commandHelp,
  type Io,
  parseCommandArgs,
} from './command.js'
import { compact } from './commands/compact.js'
import { doctor } from './commands/doctor.js'
import { gc } from './commands/gc.js'
import { branch, log, restore, retention } from './commands/history.js'
import { init } from './commands/init.js'
import { migrate } from './commands/migrate.js'
import { pull } from './commands/pull.js'
import { push } from './commands/push.js'
import { shell } from './commands/shell.js'
import { sql } from './commands/sql.js'
import { status } from './commands/status.js'
import {
  EXIT_INTERRUPTED,
  EXIT_OK,
  EXIT_USAGE,
  exitCodeFor,
  formatError,
  UsageError,
} from './errors.js'
import { explainError } from './explain.js'
import { InterruptedError, Interrupts, LATE_INTERRUPT_NOTE } from './interrupts.js'
import { closest } from './suggest.js'
import { TARGET_HELP } from './target.js'

export const COMMANDS: readonly CommandSpec[] = [
  init,
  pull,
  push,
  status,
  sql,
  shell,
  compact,
  gc,
  doctor,
  migrate,
  log,
  restore,
  branch,
  retention,
]

function version(): string {
  const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as {
    version: string
  }
  return pkg.version
}

function mainHelp(): string {
  const width = Math.max(...COMMANDS.map((c) => c.name.length))
  return `s3db: a SQLite database that lives in S3 (or a directory)

Usage: s3db <command> <target> [options]

Commands:
${COMMANDS.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`).join('\n')}

Run 's3db <command> --help' for a command's options.

${TARGET_HELP}

S3 settings come from the standard AWS environment and profiles (AWS_PROFILE,
AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_REGION, ...). AWS_ENDPOINT_URL selects
an S3-compatible server (MinIO, R2) and turns on path-style addressing
(S3DB_S3_PATH_STYLE=0/1 or --path-style override).

Exit codes: 0 success, 1 failure, 2 usage error, 130 interrupted.
`
}

export interface MainOptions {
  io?: Io
  env?: NodeJS.ProcessEnv
  /** Ctrl-C (bin.ts feeds SIGINT into it). */
  interrupts?: Interrupts
  /** For callers without {@link Interrupts}: aborting it is one Ctrl-C. */
  signal?: AbortSignal
}

/** Runs the CLI with `argv` (without node and script); resolves with the exit code. */
export async function main(argv: string[], options: MainOptions = {}): Promise<number> {
  const io: Io = options.io ?? {
    stdout: process.stdout,
    stderr: process.stderr,
    stdin: process.stdin,
  }
  const env = options.env ?? process.env
  const interrupts = options.interrupts ?? new Interrupts()
  options.signal?.addEventListener('abort', () => interrupts.interrupt(), { once: true })
  const debug = argv.includes('--debug')
  const [name, ...rest] = argv
  let current: string | undefined
  try {
    if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
      if (name === 'help' && rest[0]) return main([rest[0], '--help'], options)
      io.stdout.write(mainHelp())
      return name === undefined ? EXIT_USAGE : EXIT_OK
    }
    if (name === '--version' || name === '-v') {
      io.stdout.write(`${version()}\n`)
      return EXIT_OK
    }
    const spec = COMMANDS.find((c) => c.name === name)
    if (!spec) {
      const names = COMMANDS.map((c) => c.name)
      const guess = closest(name, names)
      throw new UsageError(
        `unknown command ${JSON.stringify(name)}${guess ? `; did you mean ${guess}?` : ''} (commands: ${names.join(', ')})`,
      )
    }
    current = spec.name
    const { values, positionals } = parseCommandArgs(spec, rest)
    if (values.help) {
      io.stdout.write(commandHelp(spec))
      return EXIT_OK
    }
    const ctx: CommandContext = {
      values,
      positionals,
      io,
      env,
      signal: interrupts.signal,
      interrupts,
    }
    const code = (await spec.run(ctx)) ?? EXIT_OK
    if (interrupts.signal.aborted && interrupts.published) io.stderr.write(LATE_INTERRUPT_NOTE)
    return code
  } catch (err) {
    if (err instanceof InterruptedError) {
      io.stderr.write(`s3db: ${err.message}\n`)
      return EXIT_INTERRUPTED
    }
    // After Ctrl-C, whatever the aborted command threw (an abort, a cut-off
    // stream) means "interrupted"; only an unknown commit outcome is worth more.
    if (interrupts.signal.aborted && !isS3dbError(err, 'CommitIndeterminate')) {
      io.stderr.write(`s3db: ${interrupts.describe()}\n`)
      return EXIT_INTERRUPTED
    }
    // Usage errors raised deep down (target parsing) still point at the command's help.
    const shown =
      err instanceof UsageError && !err.command && current
        ? new UsageError(err.message, current)
        : err
    io.stderr.write(formatError(explainError(shown, env), debug, env))
    return exitCodeFor(err)
  }
}

export { EXIT_USAGE }
