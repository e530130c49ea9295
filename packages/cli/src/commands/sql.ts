import { readFile } from 'node:fs/promises'
import type { CommandSpec } from '../command.js'
import { parseAt } from '../database.js'
import { SqlSession } from '../engine/session.js'
import { UsageError } from '../errors.js'
import { renderData, renderTable } from '../render.js'
import { statementsOf, txControl } from '../sql-split.js'
import { parseTarget } from '../target.js'

/** Drops a BEGIN ... COMMIT wrapper: an invocation is one transaction anyway. */
function unwrap(statements: string[]): string[] {
  let list = statements
  if (list.length >= 2 && txControl(list[0]!) === 'begin' && txControl(list.at(-1)!) === 'commit') {
    list = list.slice(1, -1)
  }
  for (const s of list) {
    if (txControl(s)) {
      throw new UsageError(
        `${JSON.stringify(s)} is not allowed here: all statements of one \`s3db sql\` run as one transaction already (use \`s3db shell\` for BEGIN ... COMMIT blocks)`,
        'sql',
      )
    }
  }
  return list
}

export const sql: CommandSpec = {
  name: 'sql',
  summary: 'Run SQL: reads as a consistent view, writes (with --write) as one transaction.',
  usage: 'sql <target> "SQL" [--write] [--at SEQ|TIME] [--json | --csv]',
  details: `SQLite decides what is a read (the statement is read-only). Read queries print as
a table (default), JSON (--json: an array of row objects) or CSV (--csv). Several
statements separated by ";" run together in one view or one update; --json and --csv
print the rows of the last statement that returns rows. Statements that write need
--write; the update re-runs on the newer state if another writer commits first.
Use "-" as SQL (or --file FILE) to read the SQL from stdin (or a file).
Ctrl-C stops a running statement (exit 130); nothing of it is written.
--at SEQ or --at TIME (ISO 8601, e.g. 2026-12-06T10:00Z: the state current then)
reads a past state, read-only; it must still be retained (see \`s3db retention\`).

Examples:
  s3db sql ./data/mydb "SELECT * FROM users LIMIT 10"
  s3db sql ./data/mydb "UPDATE users SET name = 'x' WHERE id = 1" --write
  s3db sql s3://my-bucket/mydb/ "SELECT count(*) AS n FROM users" --json
  s3db sql ./data/mydb --at 2026-12-06T10:00Z "SELECT * FROM users"`,
  options: {
    write: { type: 'boolean', short: 'w', description: 'allow statements that write' },
    at: { type: 'string', value: 'SEQ|TIME', description: 'read a past state (read-only)' },
    file: { type: 'string', value: 'FILE', description: 'read the SQL from FILE' },
    json: { type: 'boolean', description: 'print rows as JSON' },
    csv: { type: 'boolean', description: 'print rows as CSV' },
  },
  positionals: { min: 1, max: 2 },
  async run(ctx) {
    if (ctx.values.json && ctx.values.csv) {
      throw new UsageError('--json and --csv cannot be combined', 'sql')
    }
    const given = ctx.positionals[1]
    const file = ctx.values.file as string | undefined
    if ((given === undefined) === (file === undefined)) {
      throw new UsageError('give the SQL either as the second argument or with --file', 'sql')
    }
    let text: string
    if (file !== undefined) text = await readFile(file, 'utf8')
    else if (given === '-') text = await readStdin(ctx.io.stdin)
    else text = given!
    const statements = unwrap(statementsOf(text))
    if (statements.length === 0) throw new UsageError('no SQL statement given', 'sql')

    parseTarget(ctx.positionals[0])
    const at = parseAt(ctx.values.at, 'sql')
    if (at && ctx.values.write)
      throw new UsageError(
        '--at reads a past state, which is read-only: drop --write (to undo, use `s3db restore`)',
        'sql',
      )
    // Statements run in an engine process that Ctrl-C can stop mid-query.
    const session = new SqlSession(ctx)
    session.at = at
    const release = ctx.interrupts.take(() => session.interrupt())
    try {
      await session.restart()
      const reply = await session.request({
        op: 'sql',
        statements,
        write: ctx.values.write === true,
      })
      if (reply.kind === 'needs-write') {
        const write = reply.first
        const shown = JSON.stringify(write.length > 60 ? `${write.slice(0, 57)}...` : write)
        throw new UsageError(
          at
            ? `${shown} writes, and a past state (--at) is read-only; to undo to it, use \`s3db restore\``
            : `${shown} writes to the database: add --write to run it`,
          'sql',
        )
      }
      if (reply.kind !== 'results') throw new Error(`unexpected engine reply ${reply.kind}`)
      const { results, seq } = reply
      const mode = ctx.values.json ? 'json' : ctx.values.csv ? 'csv' : 'table'
      if (mode === 'table') {
        const text = results.map(renderTable).join('\n')
        ctx.io.stdout.write(seq === undefined ? text : `${text}committed at seq ${seq}\n`)
      } else {
        ctx.io.stdout.write(renderData(mode, results, seq))
      }
      return 0
    } finally {
      release()
      await session.close()
    }
  },
}

async function readStdin(stdin: NodeJS.ReadableStream): Promise<string> {
  const chunks: Buffer[] = []
  for await (const chunk of stdin) chunks.push(Buffer.from(chunk as Buffer))
  return Buffer.concat(chunks).toString('utf8')
}
