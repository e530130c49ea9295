/**
 * What a command is (name, options, help text, run) and how its arguments are
 * parsed (node:util parseArgs, strict). Every command also accepts --help,
 * --debug and --path-style.
 *
 * @module
 */
import { parseArgs } from 'node:util'
import { UsageError } from './errors.js'
import type { Interrupts } from './interrupts.js'
import { closest } from './suggest.js'
import { TARGET_HELP } from './target.js'

export interface OptionSpec {
  type: 'string' | 'boolean'
  short?: string
  /** Placeholder shown in help for string options. */
  value?: string
  description: string
}

export interface CommandSpec {
  name: string
  summary: string
  /** Synopsis after `s3db `, e.g. `pull <target> -o FILE`. */
  usage: string
  /** Longer help text (what it does, exit codes, examples). */
  details?: string
  options: Record<string, OptionSpec>
  /** How many positionals the command takes. */
  positionals: { min: number; max: number }
  run(ctx: CommandContext): Promise<number | undefined>
}

export interface Io {
  stdout: NodeJS.WritableStream & { isTTY?: boolean; columns?: number }
  stderr: NodeJS.WritableStream & { isTTY?: boolean }
  stdin: NodeJS.ReadableStream & { isTTY?: boolean }
}

export interface CommandContext {
  values: Record<string, string | boolean | undefined>
  positionals: string[]
  io: Io
  env: NodeJS.ProcessEnv
  /** Aborted on Ctrl-C (unless the command took the interrupts, see {@link Interrupts.take}). */
  signal: AbortSignal
  interrupts: Interrupts
}

export const COMMON_OPTIONS: Record<string, OptionSpec> = {
  'path-style': {
    type: 'boolean',
    description: 'S3 path-style addressing (default on when AWS_ENDPOINT_URL is set)',
  },
  debug: { type: 'boolean', description: 'print stack traces on errors' },
  help: { type: 'boolean', short: 'h', description: 'show this help' },
}

export function allOptions(spec: CommandSpec): Record<string, OptionSpec> {
  return { ...spec.options, ...COMMON_OPTIONS }
}

/** Parses argv for a command; throws UsageError for anything wrong. */
export function parseCommandArgs(
  spec: CommandSpec,
  argv: string[],
): { values: Record<string, string | boolean | undefined>; positionals: string[] } {
  const options = allOptions(spec)
  let parsed: ReturnType<typeof parseArgs>
  try {
    parsed = parseArgs({
      args: argv,
      options: Object.fromEntries(
        Object.entries(options).map(([name, o]) => [
          name,
          o.short ? { type: o.type, short: o.short } : { type: o.type },
        ]),
      ),
      allowPositionals: true,
      strict: true,
    })
  } catch (err) {
    // parseArgs messages are clear but long; keep the first sentence.
    const message = (err as Error).message.split('. ')[0] ?? (err as Error).message
    throw new UsageError(`${message}${suggestOption(err, options)}`, spec.name)
  }
  const values = parsed.values as Record<string, string | boolean | undefined>
  if (values.help) return { values, positionals: parsed.positionals }
  const n = parsed.positionals.length
  if (n < spec.positionals.min) {
    throw new UsageError(`missing arguments: usage: s3db ${spec.usage}`, spec.name)
  }
  if (n > spec.positionals.max) {
    throw new UsageError(
      `unexpected argument ${JSON.stringify(parsed.positionals[spec.positionals.max])}: usage: s3db ${spec.usage}`,
      spec.name,
    )
  }
  return { values, positionals: parsed.positionals }
}

/** "; did you mean --json?" for an unknown long option close to a known one, else ''. */
function suggestOption(err: unknown, options: Record<string, OptionSpec>): string {
  if ((err as NodeJS.ErrnoException).code !== 'ERR_PARSE_ARGS_UNKNOWN_OPTION') return ''
  const given = /Unknown option '--([^'=]+)/.exec((err as Error).message)?.[1]
  const match = given === undefined ? undefined : closest(given, Object.keys(options))
  return match === undefined ? '' : `; did you mean --${match}?`
}

export function commandHelp(spec: CommandSpec): string {
  const lines = [`Usage: s3db ${spec.usage}`, '', spec.summary]
  if (spec.details) lines.push('', spec.details.trim())
  lines.push('', 'Options:')
  const rows = Object.entries(allOptions(spec)).map(([name, o]) => {
    const flag = `${o.short ? `-${o.short}, ` : '    '}--${name}${o.type === 'string' ? ` ${o.value ?? 'VALUE'}` : ''}`
    return [flag, o.description] as const
  })
  const width = Math.max(...rows.map(([f]) => f.length))
  for (const [flag, description] of rows) lines.push(`  ${flag.padEnd(width)}  ${description}`)
  if (spec.usage.includes('<target>')) lines.push('', TARGET_HELP)
  return `${lines.join('\n')}\n`
}
