import { once } from 'node:events'
import http from 'node:http'
import net from 'node:net'
import type { Test } from 'tap'

/* Misbehaving and recording receivers for the backend tests (loopback, port 0). */

async function listen(server: net.Server | http.Server, t: Test): Promise<number> {
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  t.teardown(() => {
    if ('closeAllConnections' in server) server.closeAllConnections()
    server.close()
  })
  return (server.address() as net.AddressInfo).port
}

/**
 * A Graphite that, while `holding`, accepts connections but never reads from
 * them nor closes them; otherwise it reads each connection to its end and
 * keeps the text. Releasing the held ones discards whatever they were sent.
 */
export class ControllableGraphite {
  holding = false
  readonly held = new Set<net.Socket>()
  readonly received: string[] = []
  private readonly server = net.createServer((socket) => {
    socket.on('error', () => {})
    if (this.holding) {
      socket.pause()
      this.held.add(socket)
      this.onChange()
      return
    }
    const chunks: Buffer[] = []
    socket.on('data', (c) => chunks.push(c))
    socket.on('end', () => {
      this.received.push(Buffer.concat(chunks).toString())
      this.onChange()
    })
  })
  private waiters: (() => void)[] = []

  static async start(t: Test): Promise<{ graphite: ControllableGraphite; port: number }> {
    const graphite = new ControllableGraphite()
    const port = await listen(graphite.server, t)
    t.teardown(() => graphite.release())
    return { graphite, port }
  }

  /** Destroys the held connections unread and reads every later one. */
  release(): void {
    this.holding = false
    for (const socket of this.held) socket.destroy()
    this.held.clear()
  }

  /** Every line received so far. */
  lines(): string[] {
    return this.received.join('').split('\n').filter((l) => l !== '')
  }

  async until(test: () => boolean, timeoutMs: number, what: string): Promise<void> {
    const deadline = Date.now() + timeoutMs
    while (!test()) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
      await Promise.race([new Promise<void>((r) => this.waiters.push(r)), new Promise((r) => setTimeout(r, 100))])
    }
  }

  private onChange(): void {
    const waiters = this.waiters
    this.waiters = []
    for (const w of waiters) w()
  }
}

/** A TCP receiver that reads at most `bytesPerSecond`, as an overloaded statsd would. */
export async function startSlowReader(t: Test, bytesPerSecond: number): Promise<{ port: number; bytes: () => number }> {
  let bytes = 0
  const server = net.createServer((socket) => {
    socket.on('error', () => {})
    socket.on('data', (chunk) => {
      bytes += chunk.length
      socket.pause()
      setTimeout(() => socket.resume(), (chunk.length / bytesPerSecond) * 1000).unref()
    })
  })
  const port = await listen(server, t)
  return { port, bytes: () => bytes }
}

/** A port nothing listens on (bound, then closed). */
export async function deadPort(): Promise<number> {
  const server = net.createServer()
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const port = (server.address() as net.AddressInfo).port
  await new Promise((resolve) => server.close(resolve))
  return port
}

/** An HTTP server that records every request and answers with `status`. */
export async function startRecordingHttp(
  t: Test,
  status = 204,
): Promise<{ port: number; requests: { method: string; url: string; headers: http.IncomingHttpHeaders; body: string }[] }> {
  const requests: { method: string; url: string; headers: http.IncomingHttpHeaders; body: string }[] = []
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => {
      requests.push({ method: req.method!, url: req.url!, headers: req.headers, body: Buffer.concat(chunks).toString() })
      res.writeHead(status).end(status >= 400 ? '{"error":"bad"}' : undefined)
    })
  })
  const port = await listen(server, t)
  return { port, requests }
}
