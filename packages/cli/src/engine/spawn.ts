/**
 * Starting the SQL engine process. Kept free of heavy imports so that bin.ts
 * can start it first thing for `sql` and `shell`: the engine then loads
 * @s3db/core while this process does the same, instead of after it.
 *
 * @module
 */
import { type ChildProcess, fork } from 'node:child_process'
import { fileURLToPath } from 'node:url'

const ENGINE = fileURLToPath(new URL('./process.js', import.meta.url))

let early: { child: ChildProcess; env: NodeJS.ProcessEnv } | undefined

function spawnEngine(env: NodeJS.ProcessEnv): ChildProcess {
  return fork(ENGINE, [], {
    env,
    // Node's own flags carry over, except a debugger port the parent holds.
    execArgv: process.execArgv.filter((a) => !a.startsWith('--inspect')),
    serialization: 'advanced',
    stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
  })
}

/**
 * Starts an engine now, for a later {@link takeEngineProcess} with the same
 * `env`. Until taken it does not keep this process alive; if never taken, it
 * ends when this process does (its IPC channel closes).
 */
export function prestartEngine(env: NodeJS.ProcessEnv): void {
  const child = spawnEngine(env)
  child.unref()
  child.channel?.unref()
  early = { child, env }
}

/** An engine process for `env`: the one started early when it fits, else a new one. */
export function takeEngineProcess(env: NodeJS.ProcessEnv): ChildProcess {
  const ready = early
  early = undefined
  if (ready && ready.env === env && ready.child.connected) {
    ready.child.ref()
    ready.child.channel?.ref()
    return ready.child
  }
  ready?.child.kill('SIGKILL')
  return spawnEngine(env)
}
