import { createInterface } from 'node:readline'
import type { S3db } from '@s3db/core'
import type { CommandContext, CommandSpec } from '../command.js'
import { openDatabase, resolveTarget } from '../database.js'
import { redact } from '../errors.js'
import { appendHistory, historyPath, loadHistory } from '../history.js'
import { keyValues } from '../output.js'
import { type Mode, renderData, renderTable } from '../render.js'
import { readIfReadOnly, runStatement, runWrite, type StatementResult } from '../sql-exec.js'
import { isBlankSql, splitSql, txControl } from '../sql-split.js'

const HELP = `Statements end with ";". Each one runs on its own: reads as a view of the
latest state, writes as one committed update. BEGIN; ...; COMMIT; collects
statements into ONE update (published at COMMIT, re-run on the newer state if
another writer committed meanwhile); ROLLBACK; discards them.

.help               this text
.tables             list tables
.schema [TABLE]     show CREATE statements
.mode table|json|csv  output format (default table)
.status             seq and log of the database
.quit, .exit        leave (Ctrl-D works too)
`

/** Thrown to end a trial run of an open transaction block without publishing. */
class Discard {}

class Shell {
  readonly #ctx: CommandContext
  readonly #db: S3db
  #mode: Mode = 'table'
  /** Statements of an open BEGIN block, or undefined outside one. */
  #block: string[] | undefined
  errors = 0

  constructor(ctx: CommandContext, db: S3db) {
    this.#ctx = ctx
    this.#db = db
  }

  get inBlock(): boolean {
    return this.#block !== undefined
  }

  #out(text: string): void {
    this.#ctx.io.stdout.write(text)
  }

  #error(err: unknown): void {
    this.errors++
    const message = err instanceof Error ? err.message : String(err)
    this.#ctx.io.stderr.write(redact(`Error: ${message.replace(/\s*\n\s*/g, ' ')}\n`))
  }

  #print(results: StatementResult[], seq: number | undefined): void {
    if (this.#mode === 'table') {
      for (const r of results) this.#out(renderTable(r))
      if (seq !== undefined) this.#out(`committed at seq ${seq}\n`)
    } else {
      this.#out(renderData(this.#mode, results, seq))
    }
  }

  async statement(sql: string): Promise<void> {
    const signal = this.#ctx.signal
    try {
      const control = txControl(sql)
      if (control === 'begin') {
        if (this.#block)
          throw new Error('a transaction is already open: COMMIT or ROLLBACK it first')
        this.#block = []
        return
      }
      if (control === 'commit') {
        const block = this.#block
        if (!block) throw new Error('no transaction is open (BEGIN starts one)')
        this.#block = undefined
        if (block.length === 0) return
        const seqBefore = this.#db.stats().seq
        try {
          await this.#db.update(
            (tx) => {
              for (const s of block) runStatement(tx, s)
            },
            { signal },
          )
        } catch (err) {
          throw new Error(
            `transaction not committed, nothing was written: ${(err as Error).message}`,
          )
        }
        const seq = this.#db.stats().seq
        this.#out(
          seq === seqBefore
            ? 'committed (no changes)\n'
            : `committed ${block.length} statement${block.length === 1 ? '' : 's'} at seq ${seq}\n`,
        )
        return
      }
      if (control === 'rollback') {
        if (!this.#block) throw new Error('no transaction is open')
        this.#block = undefined
        this.#out('rolled back\n')
        return
      }
      if (this.#block) {
        // Show the statement's effect inside the open block without publishing it:
        // replay the block plus this statement in an update, then abort that update.
        const block = this.#block
        let shown: StatementResult | undefined
        try {
          await this.#db.update(
            (tx) => {
              for (const s of block) runStatement(tx, s)
              shown = runStatement(tx, sql)
              throw new Discard()
            },
            { signal },
          )
        } catch (err) {
          if (!(err instanceof Discard) || shown === undefined) throw err
          block.push(sql)
          this.#print([shown], undefined)
        }
        return
      }
      const read = await readIfReadOnly(this.#db, [sql], signal)
      const { results, seq } =
        read.kind === 'read'
          ? { results: read.results, seq: undefined }
          : await runWrite(this.#db, [sql], signal)
      this.#print(results, seq)
    } catch (err) {
      this.#error(err)
    }
  }

  /** Runs a dot-command; returns false to quit. */
  async dot(line: string): Promise<boolean> {
    const [cmd, ...args] = line.trim().split(/\s+/)
    try {
      switch (cmd) {
        case '.quit':
        case '.exit':
          return false
        case '.help':
          this.#out(HELP)
          break
        case '.mode': {
          const mode = args[0]
          if (mode !== 'table' && mode !== 'json' && mode !== 'csv') {
            throw new Error('usage: .mode table|json|csv')
          }
          this.#mode = mode
          break
        }
        case '.tables': {
          const rows = await this.#db.view((tx) =>
            tx
              .prepare(
                "SELECT name FROM sqlite_schema WHERE type IN ('table','view') AND name NOT LIKE 'sqlite_%' ORDER BY name",
              )
              .values(),
          )
          this.#out(rows.length > 0 ? `${rows.map((r) => String(r[0])).join('\n')}\n` : '')
          break
        }
        case '.schema': {
          const rows = await this.#db.view((tx) =>
            tx
              .prepare(
                `SELECT sql FROM sqlite_schema WHERE sql IS NOT NULL AND name NOT LIKE 'sqlite_%'${args[0] ? ' AND tbl_name = ?' : ''} ORDER BY tbl_name, type DESC, name`,
              )
              .values(args[0] ? [args[0]] : undefined),
          )
          for (const r of rows) this.#out(`${String(r[0])};\n`)
          break
        }
        case '.status': {
          const s = this.#db.stats()
          this.#out(
            keyValues([
              ['seq', String(s.seq)],
              ['schema version', String(s.schemaVersion)],
              ['snapshot', `${s.snapshot.key} (seq ${s.snapshot.seq})`],
              ['log', `${s.logLength} changesets`],
            ]),
          )
          break
        }
        default:
          throw new Error(`unknown command ${cmd}: try .help`)
      }
    } catch (err) {
      this.#error(err)
    }
    return true
  }
}

export const shell: CommandSpec = {
  name: 'shell',
  summary: 'Interactive SQL shell on the database.',
  usage: 'shell <target>',
  details: `${HELP}
History is kept in ~/.s3db_history (or the file S3DB_HISTORY names).
With input from a pipe, prompts are not shown and the exit code is 1 if any
statement failed.`,
  options: {},
  positionals: { min: 1, max: 1 },
  async run(ctx) {
    const r = await resolveTarget(ctx)
    const db = await openDatabase(r, ctx)
    const interactive = ctx.io.stdin.isTTY === true && ctx.io.stdout.isTTY === true
    const histFile = historyPath(ctx.env)
    const rl = createInterface({
      input: ctx.io.stdin,
      output: ctx.io.stdout,
      terminal: interactive,
      history: interactive ? await loadHistory(histFile) : [],
      historySize: 1000,
    })
    const sh = new Shell(ctx, db)
    let buffer = ''
    const prompt = () => {
      if (!interactive) return
      rl.setPrompt(buffer ? '   ...> ' : sh.inBlock ? 's3db*> ' : 's3db> ')
      rl.prompt()
    }
    rl.on('SIGINT', () => {
      // Ctrl-C drops the statement being typed; on an empty line it quits.
      if (buffer === '') rl.close()
      else {
        buffer = ''
        ctx.io.stdout.write('\n')
        prompt()
      }
    })
    if (interactive) {
      ctx.io.stdout.write(
        `s3db shell on ${r.target.display} (seq ${db.stats().seq}); .help for help\n`,
      )
    }
    try {
      prompt()
      for await (const line of rl) {
        if (buffer === '' && line.trim().startsWith('.')) {
          await appendHistory(histFile, line)
          if (!(await sh.dot(line))) break
          prompt()
          continue
        }
        buffer += `${line}\n`
        const { statements, rest } = splitSql(buffer)
        for (const s of statements) {
          await appendHistory(histFile, `${s};`)
          await sh.statement(s)
        }
        buffer = isBlankSql(rest) ? '' : rest
        prompt()
      }
      if (buffer.trim() !== '') {
        ctx.io.stderr.write('Error: incomplete statement at end of input (missing ";"), not run\n')
        sh.errors++
      }
      if (sh.inBlock) {
        ctx.io.stderr.write('open transaction discarded (no COMMIT)\n')
      }
    } finally {
      rl.close()
      await db.close()
    }
    if (interactive) ctx.io.stdout.write('\n')
    return !interactive && sh.errors > 0 ? 1 : 0
  },
}
