import { createInterface, type Interface } from 'node:readline'
import type { CommandContext, CommandSpec } from '../command.js'
import type { Reply } from '../engine/protocol.js'
import { SqlSession } from '../engine/session.js'
import { redact } from '../errors.js'
import { explainError } from '../explain.js'
import { appendHistory, historyPath, loadHistory } from '../history.js'
import { InterruptedError } from '../interrupts.js'
import { keyValues } from '../output.js'
import { type Mode, renderData, renderTable } from '../render.js'
import type { StatementResult } from '../sql-exec.js'
import { isBlankSql, splitSql, txControl } from '../sql-split.js'
import { parseTarget } from '../target.js'

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

Ctrl-C stops a running statement (nothing of it is written) and clears a
half-typed one; on an empty line it leaves.
`

class Shell {
  readonly #ctx: CommandContext
  readonly #session: SqlSession
  #mode: Mode = 'table'
  /** Statements of an open BEGIN block, or undefined outside one. */
  #block: string[] | undefined
  errors = 0

  constructor(ctx: CommandContext, session: SqlSession) {
    this.#ctx = ctx
    this.#session = session
  }

  get inBlock(): boolean {
    return this.#block !== undefined
  }

  /** Statements in the open block (0 outside one). */
  get blockSize(): number {
    return this.#block?.length ?? 0
  }

  #out(text: string): void {
    this.#ctx.io.stdout.write(text)
  }

  #error(err: unknown): void {
    this.errors++
    const shown = explainError(err, this.#ctx.env)
    const message = shown instanceof Error ? shown.message : String(shown)
    this.#ctx.io.stderr.write(
      redact(`Error: ${message.replace(/\s*\n\s*/g, ' ')}\n`, this.#ctx.env),
    )
  }

  #print(results: StatementResult[], seq: number | undefined): void {
    if (this.#mode === 'table') {
      for (const r of results) this.#out(renderTable(r))
      if (seq !== undefined) this.#out(`committed at seq ${seq}\n`)
    } else {
      this.#out(renderData(this.#mode, results, seq))
    }
  }

  /** Runs one statement; an InterruptedError is the caller's to handle. */
  async statement(sql: string): Promise<void> {
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
        let reply: Reply
        try {
          reply = await this.#session.request({ op: 'commit', block })
        } catch (err) {
          if (err instanceof InterruptedError) throw err
          throw new Error(
            `transaction not committed, nothing was written: ${(err as Error).message}`,
          )
        }
        if (reply.kind !== 'committed') throw unexpected(reply)
        this.#out(
          reply.changed
            ? `committed ${block.length} statement${block.length === 1 ? '' : 's'} at seq ${reply.seq}\n`
            : 'committed (no changes)\n',
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
        // the engine replays the block plus this statement in an update it then aborts.
        const reply = await this.#session.request({ op: 'trial', block: this.#block, sql })
        if (reply.kind !== 'trial') throw unexpected(reply)
        this.#block.push(sql)
        this.#print([reply.result], undefined)
        return
      }
      const reply = await this.#session.request({ op: 'statement', sql })
      if (reply.kind !== 'results') throw unexpected(reply)
      this.#print(reply.results, reply.seq)
    } catch (err) {
      if (err instanceof InterruptedError) throw err
      this.#error(err)
    }
  }

  async #rows(sql: string, params: unknown[] = []): Promise<unknown[][]> {
    const reply = await this.#session.request({ op: 'rows', sql, params })
    if (reply.kind !== 'rows') throw unexpected(reply)
    return reply.rows
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
          const rows = await this.#rows(
            "SELECT name FROM sqlite_schema WHERE type IN ('table','view') AND name NOT LIKE 'sqlite_%' ORDER BY name",
          )
          this.#out(rows.length > 0 ? `${rows.map((r) => String(r[0])).join('\n')}\n` : '')
          break
        }
        case '.schema': {
          const rows = await this.#rows(
            `SELECT sql FROM sqlite_schema WHERE sql IS NOT NULL AND name NOT LIKE 'sqlite_%'${args[0] ? ' AND tbl_name = ?' : ''} ORDER BY tbl_name, type DESC, name`,
            args[0] ? [args[0]] : [],
          )
          for (const r of rows) this.#out(`${String(r[0])};\n`)
          break
        }
        case '.status': {
          const reply = await this.#session.request({ op: 'stats' })
          if (reply.kind !== 'stats') throw unexpected(reply)
          const s = reply.stats
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
      if (err instanceof InterruptedError) throw err
      this.#error(err)
    }
    return true
  }
}

function unexpected(reply: Reply): Error {
  return new Error(`unexpected reply from the SQL engine: ${reply.kind}`)
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
    parseTarget(ctx.positionals[0])
    const interactive = ctx.io.stdin.isTTY === true && ctx.io.stdout.isTTY === true
    // Statements run in an engine process that Ctrl-C can stop mid-query.
    const session = new SqlSession(ctx)
    let rl: Interface | undefined
    let buffer = ''
    /** A statement or dot-command is running (Ctrl-C stops it). */
    let running = false
    /** Ctrl-C while waiting for piped input: stop reading. */
    let stopReading = false
    const release = ctx.interrupts.take(() => {
      if (running || !rl) {
        session.interrupt()
      } else if (interactive && (buffer !== '' || rl.line !== '')) {
        // Ctrl-C drops what is being typed, as in other shells.
        buffer = ''
        ctx.io.stdout.write('^C\n')
        rl.write(null, { ctrl: true, name: 'e' })
        rl.write(null, { ctrl: true, name: 'u' })
        prompt()
      } else {
        // On an empty line (or with piped input) it ends the shell.
        stopReading = !interactive
        rl.close()
      }
    })
    const sh = new Shell(ctx, session)
    const prompt = () => {
      if (!interactive || !rl) return
      rl.setPrompt(buffer ? '   ...> ' : sh.inBlock ? 's3db*> ' : 's3db> ')
      rl.prompt()
    }
    /**
     * Runs `fn`. An interrupt ends a piped shell; in a terminal it is reported,
     * the rest of that input is dropped and the shell goes on.
     */
    let interrupted = false
    const guarded = async <T>(fn: () => Promise<T>): Promise<T | undefined> => {
      running = true
      interrupted = false
      try {
        return await fn()
      } catch (err) {
        if (!(err instanceof InterruptedError) || !interactive) throw err
        interrupted = true
        ctx.io.stderr.write(`s3db: ${err.message}\n`)
        if (session.stopped) await session.restart()
        return undefined
      } finally {
        running = false
      }
    }
    try {
      await session.restart()
      const histFile = historyPath(ctx.env)
      rl = createInterface({
        input: ctx.io.stdin,
        output: ctx.io.stdout,
        terminal: interactive,
        history: interactive ? await loadHistory(histFile) : [],
        historySize: 1000,
      })
      // In a terminal, readline reads Ctrl-C as a key; it is the same interrupt.
      rl.on('SIGINT', () => ctx.interrupts.interrupt())
      if (interactive) {
        ctx.io.stdout.write(
          `s3db shell on ${session.display} (seq ${session.openedAt}); .help for help\n`,
        )
      }
      prompt()
      for await (const line of rl) {
        if (buffer === '' && line.trim().startsWith('.')) {
          await appendHistory(histFile, line)
          if ((await guarded(() => sh.dot(line))) === false) break
          prompt()
          continue
        }
        buffer += `${line}\n`
        const { statements, rest } = splitSql(buffer)
        buffer = isBlankSql(rest) ? '' : rest
        for (const s of statements) {
          await appendHistory(histFile, `${s};`)
          await guarded(() => sh.statement(s))
          if (interrupted) {
            buffer = ''
            break
          }
        }
        prompt()
      }
      if (stopReading) {
        throw new InterruptedError(
          `interrupted while reading input${sh.inBlock ? `; the open transaction (${sh.blockSize} statement${sh.blockSize === 1 ? '' : 's'}) was discarded, nothing of it was written` : ''}`,
        )
      }
      if (buffer.trim() !== '') {
        ctx.io.stderr.write('Error: incomplete statement at end of input (missing ";"), not run\n')
        sh.errors++
      }
      if (sh.inBlock) {
        ctx.io.stderr.write('open transaction discarded (no COMMIT)\n')
      }
    } finally {
      release()
      rl?.close()
      await session.close()
    }
    if (interactive) ctx.io.stdout.write('\n')
    return !interactive && sh.errors > 0 ? 1 : 0
  },
}
