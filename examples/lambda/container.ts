/**
 * One OS process hosting several simulated warm Lambda containers. Each
 * container is its own instance of handler.ts (imported under a distinct URL,
 * so its module scope, and its S3db with its own replica, is separate), and
 * like a real container it runs one invocation at a time.
 *
 *   node container.ts '<json: { process, invocations: [[requestId, ...], ...], counter }>'
 *
 * Prints a JSON line per cold start, `{"type":"ready"}`, waits for a line on
 * stdin (so every process starts invoking at the same moment), then prints a
 * JSON line per invocation.
 */
import type {
  CounterResult,
  handler as Handler,
  initRequests as InitRequests,
  shutdown as Shutdown,
} from './handler.ts'

interface Plan {
  process: number
  /** Request ids per container. */
  invocations: string[][]
  counter: string
}

export interface InvocationLine {
  type: 'invocation'
  container: string
  requestId: string
  ok: boolean
  result?: CounterResult
  error?: string
}

export interface InitLine {
  type: 'init'
  container: string
  initMs: number
  requests: typeof InitRequests
}

const plan = JSON.parse(process.argv[2]!) as Plan
const print = (line: InvocationLine | InitLine) => process.stdout.write(`${JSON.stringify(line)}\n`)

// Cold starts: load every container's module instance (opens its database).
const containers = await Promise.all(
  plan.invocations.map(async (requestIds, i) => {
    const name = `p${plan.process}c${i}`
    const started = performance.now()
    const mod = (await import(`./handler.ts?container=${name}`)) as {
      handler: typeof Handler
      initRequests: typeof InitRequests
      shutdown: typeof Shutdown
    }
    print({
      type: 'init',
      container: name,
      initMs: Math.round(performance.now() - started),
      requests: mod.initRequests,
    })
    return { name, mod, requestIds }
  }),
)

process.stdout.write(`${JSON.stringify({ type: 'ready' })}\n`)
await new Promise((resolve) => process.stdin.once('data', resolve))
process.stdin.destroy()

await Promise.all(
  containers.map(async ({ name, mod, requestIds }) => {
    for (const requestId of requestIds) {
      try {
        const result = await mod.handler(
          { op: 'increment', counter: plan.counter },
          { awsRequestId: requestId, functionName: 'counter' },
        )
        print({ type: 'invocation', container: name, requestId, ok: true, result })
      } catch (err) {
        print({ type: 'invocation', container: name, requestId, ok: false, error: String(err) })
      }
    }
  }),
)
await Promise.all(containers.map(({ mod }) => mod.shutdown()))
