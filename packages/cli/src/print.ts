import type { CommandContext } from './command.js'
import { toJson } from './output.js'

/** Prints the human text, or the JSON value with --json. */
export function report(ctx: CommandContext, human: string, json: unknown): void {
  if (ctx.values.json) ctx.io.stdout.write(`${toJson(json)}\n`)
  else ctx.io.stdout.write(human.endsWith('\n') ? human : `${human}\n`)
}

export const JSON_OPTION = {
  json: { type: 'boolean', description: 'print the result as JSON' },
} as const
