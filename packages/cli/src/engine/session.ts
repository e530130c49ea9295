/**
 * One database opened in an engine process for `s3db sql` or `s3db shell`,
 * with its replica in a folder this CLI process owns: when a statement is
 * stopped (the engine killed), a new engine reopens the same replica and only
 * asks the store what changed.
 *
 * @module
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { CommandContext } from '../command.js'
import { InterruptedError, LATE_INTERRUPT_NOTE } from '../interrupts.js'
import { Engine, type InterruptOutcome } from './client.js'
import type { Reply, Request } from './protocol.js'

export class SqlSession {
  readonly #ctx: CommandContext
  #dir: string | undefined
  #engine: Engine | undefined
  /** Ctrl-C before any engine ran. */
  #interruptedEarly = false
  /** The target as the engine names it (s3://bucket/prefix/ or file://...). */
  display: string
  /** The database's seq when it was (re)opened. */
  openedAt = 0
  /** A past state to read (`--at`), read-only. */
  at: { seq: number } | { time: string } | undefined

  constructor(ctx: CommandContext) {
    this.#ctx = ctx
    this.display = ctx.positionals[0] ?? ''
  }

  /** True when the engine was stopped (an interrupted statement) and must be restarted. */
  get stopped(): boolean {
    return this.#engine?.alive !== true
  }

  /** Starts an engine and opens the database in it (again, after an interrupted statement). */
  async restart(): Promise<void> {
    await this.#engine?.kill()
    this.#dir ??= await mkdtemp(join(tmpdir(), 's3db-sql-'))
    if (this.#interruptedEarly) throw new InterruptedError('interrupted: nothing was written')
    const engine = Engine.start(this.#ctx.env)
    this.#engine = engine
    const reply = await engine.request({
      op: 'open',
      spec: {
        target: this.#ctx.positionals[0] ?? '',
        pathStyle: this.#ctx.values['path-style'] === true,
        debug: this.#ctx.values.debug === true,
        localPath: join(this.#dir, 'replica.sqlite'),
        at: this.at,
      },
    })
    if (reply.kind === 'opened') {
      this.display = reply.display
      this.openedAt = reply.seq
    }
  }

  /**
   * Sends one request. When Ctrl-C came while its write was already being
   * published and it completed, says so on stderr.
   */
  async request(request: Request): Promise<Reply> {
    if (!this.#engine) throw new Error('no SQL engine is running')
    const reply = await this.#engine.request(request)
    if (this.#engine.completedDespiteInterrupt) this.#ctx.io.stderr.write(LATE_INTERRUPT_NOTE)
    return reply
  }

  /** Ctrl-C: see {@link Engine.interrupt}. */
  interrupt(): InterruptOutcome {
    if (!this.#engine) {
      this.#interruptedEarly = true
      return 'stopped'
    }
    return this.#engine.interrupt(this.display)
  }

  /** Closes the database, ends the engine and removes the replica folder. */
  async close(): Promise<void> {
    await this.#engine?.close()
    if (this.#dir) await rm(this.#dir, { recursive: true, force: true })
  }
}
