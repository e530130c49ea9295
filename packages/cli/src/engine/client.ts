/**
 * The CLI's side of the SQL engine process: starts it, sends one request at a
 * time, and on Ctrl-C stops it (while it runs SQL) or passes the interrupt on
 * (while it publishes). See protocol.ts.
 *
 * @module
 */
import type { ChildProcess } from 'node:child_process'
import { CliError, RemoteError } from '../errors.js'
import { InterruptedError } from '../interrupts.js'
import type { FromEngine, Reply, Request, ToEngine } from './protocol.js'
import { takeEngineProcess } from './spawn.js'

type State = 'idle' | 'running' | 'publishing' | 'stopping' | 'exited'

/** What an interrupt did: nothing to stop, stopped the engine, or asked it to stop. */
export type InterruptOutcome = 'idle' | 'stopped' | 'forwarded'

export class Engine {
  readonly #child: ChildProcess
  readonly #exited: Promise<void>
  #state: State = 'idle'
  #request: Request | undefined
  #pending: { resolve: (reply: Reply) => void; reject: (err: unknown) => void } | undefined
  /** The error the pending request gets once the process is gone. */
  #stopReason: unknown
  /** An interrupt was passed on to the publishing engine. */
  #forwarded = false

  private constructor(env: NodeJS.ProcessEnv) {
    this.#child = takeEngineProcess(env)
    this.#exited = new Promise((resolve) => {
      this.#child.once('exit', (code, signal) => {
        this.#state = 'exited'
        const reason =
          this.#stopReason ??
          new CliError(
            `the SQL engine process ended unexpectedly (${signal ?? `exit code ${code}`})`,
            'run again with --debug; if it happens again, report it',
          )
        this.#settle(undefined, reason)
        resolve()
      })
    })
    this.#child.on('message', (message: FromEngine) => this.#receive(message))
  }

  /** Starts an engine process (open the database with an 'open' request). */
  static start(env: NodeJS.ProcessEnv): Engine {
    return new Engine(env)
  }

  /** The last request completed although an interrupt was passed on to it (its write landed). */
  get completedDespiteInterrupt(): boolean {
    return this.#forwarded && this.#state === 'idle'
  }

  get alive(): boolean {
    return this.#state !== 'exited' && this.#state !== 'stopping'
  }

  /** Sends one request; resolves with the reply. Rejects with InterruptedError when stopped. */
  request(request: Request): Promise<Reply> {
    if (!this.alive) return Promise.reject(new Error('the SQL engine process has ended'))
    if (this.#pending) return Promise.reject(new Error('the SQL engine is busy'))
    this.#request = request
    this.#state = 'running'
    this.#forwarded = false
    return new Promise<Reply>((resolve, reject) => {
      this.#pending = { resolve, reject }
      this.#send({ type: 'request', request })
    })
  }

  /**
   * Ctrl-C. While SQL runs (or the database opens or syncs), the process is
   * killed: nothing of the request reached the store. While it publishes, the
   * first interrupt is passed on (the commit stops cleanly or completes); a
   * second one kills it, and then the outcome is unknown.
   */
  interrupt(target: string): InterruptOutcome {
    switch (this.#state) {
      case 'idle':
      case 'exited':
      case 'stopping':
        return 'idle'
      case 'running':
        this.#stop(new InterruptedError(stoppedLine(this.#request)))
        return 'stopped'
      case 'publishing':
        if (!this.#forwarded) {
          this.#forwarded = true
          this.#send({ type: 'interrupt' })
          return 'forwarded'
        }
        this.#stop(
          new InterruptedError(
            `interrupted while publishing to ${target}: whether it changed is unknown; check with \`s3db status ${target}\``,
          ),
        )
        return 'stopped'
    }
  }

  /** Closes the database and ends the process (kills it if it does not answer). */
  async close(): Promise<void> {
    if (this.alive && !this.#pending) {
      await this.request({ op: 'close' }).catch(() => {})
    }
    await this.kill()
  }

  /** Ends the process now and waits until it is gone. */
  async kill(): Promise<void> {
    if (this.#state !== 'exited') this.#child.kill('SIGKILL')
    await this.#exited
  }

  #stop(reason: unknown): void {
    this.#stopReason = reason
    this.#state = 'stopping'
    this.#child.kill('SIGKILL')
  }

  #send(message: ToEngine): void {
    if (this.#child.connected) this.#child.send(message)
  }

  #settle(reply: Reply | undefined, err?: unknown): void {
    const pending = this.#pending
    this.#pending = undefined
    this.#request = undefined
    if (this.#state !== 'exited' && this.#state !== 'stopping') this.#state = 'idle'
    if (!pending) return
    if (err === undefined) pending.resolve(reply!)
    else pending.reject(err)
  }

  #receive(message: FromEngine): void {
    if (this.#state === 'stopping' || this.#state === 'exited') return
    switch (message.type) {
      case 'phase':
        if (message.phase === 'sql') {
          this.#state = 'running'
        } else {
          // From here on the commit may reach the store: no more killing.
          this.#state = 'publishing'
          this.#send({ type: 'go' })
        }
        return
      case 'reply':
        this.#settle(message.reply)
        return
      case 'error':
        this.#settle(undefined, new RemoteError(message.error))
        return
      case 'interrupted':
        this.#settle(undefined, new InterruptedError(message.line))
        return
    }
  }
}

function stoppedLine(request: Request | undefined): string {
  switch (request?.op) {
    case 'commit':
      return 'interrupted: the transaction was stopped; nothing was written'
    case 'sql':
    case 'statement':
    case 'trial':
    case 'rows':
      return 'interrupted: the statement was stopped; nothing was written'
    default:
      return 'interrupted: nothing was written'
  }
}
