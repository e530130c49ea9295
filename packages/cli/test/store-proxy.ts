/**
 * An HTTP proxy in front of the test S3 endpoint that can hold a request (until
 * released) or slow its body down, so that a test can interrupt the CLI exactly
 * while a given request is in flight: during a snapshot upload, or with the
 * manifest compare-and-swap on the wire. Listens on 127.0.0.1 only; requests
 * are forwarded unchanged (the Host header too, so SigV4 signatures hold).
 */
import {
  createServer,
  type IncomingMessage,
  request,
  type Server,
  type ServerResponse,
} from 'node:http'
import { Transform, type TransformCallback } from 'node:stream'

export interface Rule {
  /** Which requests: method and path (`/bucket/key`). */
  match(method: string, path: string): boolean
  /**
   * Read the whole request, then hold it until `release()`: as a server that
   * received a request and applies it late. It is forwarded on release even if
   * the client has given up on it meanwhile.
   */
  hold?: boolean
  /** Slow the request and response bodies to this many bytes per second. */
  bytesPerSecond?: number
}

export interface Matched {
  /** Resolves when the first matching request arrived. */
  arrived: Promise<void>
  /** Forwards held requests (and later ones pass at once). */
  release(): void
}

export interface StoreProxy {
  url: string
  /** Applies `rule` to every later matching request. */
  add(rule: Rule): Matched
  /** Requests seen so far, as "METHOD /path". */
  seen: string[]
  close(): Promise<void>
}

/** Passes bytes through at a fixed rate. */
function throttle(bytesPerSecond: number): Transform {
  return new Transform({
    transform(chunk: Buffer, _enc, done: TransformCallback) {
      let offset = 0
      const step = Math.max(1, Math.floor(bytesPerSecond / 20))
      const push = () => {
        if (offset >= chunk.length) return done()
        this.push(chunk.subarray(offset, offset + step))
        offset += step
        setTimeout(push, 50)
      }
      push()
    },
  })
}

export async function startStoreProxy(target: string): Promise<StoreProxy> {
  const upstream = new URL(target)
  const rules: Array<Rule & { state: { arrived: () => void; released: Promise<void> } }> = []
  const seen: string[] = []
  const sockets = new Set<import('node:net').Socket>()

  const forward = (req: IncomingMessage, res: ServerResponse, rate?: number, body?: Buffer) => {
    const out = request(
      {
        host: upstream.hostname,
        port: upstream.port,
        method: req.method,
        path: req.url,
        headers: req.headers,
      },
      (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers)
        ;(rate ? answer.pipe(throttle(rate)) : answer).pipe(res)
      },
    )
    out.on('error', () => res.destroy())
    if (body) {
      out.end(body)
      return
    }
    req.on('aborted', () => out.destroy())
    res.on('close', () => {
      if (!res.writableFinished) out.destroy()
    })
    ;(rate ? req.pipe(throttle(rate)) : req).pipe(out)
  }

  const server: Server = createServer((req, res) => {
    const method = req.method ?? 'GET'
    const path = (req.url ?? '/').split('?')[0]!
    seen.push(`${method} ${path}`)
    const rule = rules.find((r) => r.match(method, path))
    if (!rule) return forward(req, res)
    if (!rule.hold) {
      rule.state.arrived()
      return forward(req, res, rule.bytesPerSecond)
    }
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => {
      rule.state.arrived()
      void rule.state.released.then(() => forward(req, res, undefined, Buffer.concat(chunks)))
    })
  })
  server.on('connection', (socket) => {
    sockets.add(socket)
    socket.on('close', () => sockets.delete(socket))
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as { port: number }
  return {
    url: `http://127.0.0.1:${port}`,
    seen,
    add(rule) {
      let arrived!: () => void
      let release!: () => void
      const arrivedP = new Promise<void>((r) => {
        arrived = r
      })
      const released = new Promise<void>((r) => {
        release = r
      })
      rules.push({ ...rule, state: { arrived, released } })
      return { arrived: arrivedP, release }
    },
    async close() {
      for (const s of sockets) s.destroy()
      await new Promise<void>((resolve) => server.close(() => resolve()))
    },
  }
}
