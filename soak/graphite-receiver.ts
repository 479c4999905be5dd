import { once } from 'node:events'
import net from 'node:net'

/** One flush seen by the receiver: its timestamp and when its first line arrived. */
export interface FlushArrival {
  timestamp: number
  arrivedAt: number
}

/**
 * The harness's own Graphite plaintext receiver. It reads lines as they
 * stream in (whatever the connection pattern: one per flush, as Etsy, or a
 * persistent one), and can be stopped and restarted on the same port to play
 * a Graphite outage.
 */
export class GraphiteReceiver {
  private server: net.Server | null = null
  private readonly sockets = new Set<net.Socket>()
  private readonly seenFlushes = new Set<number>()
  port = 0
  lines = 0
  malformedLines = 0
  connections = 0

  constructor(
    private readonly onLine: (name: string, value: string, ts: number) => void,
    /** The name that marks a flush (sent once per flush, with the flush's timestamp). */
    private readonly flushMarker: string,
    private readonly onFlush: (flush: FlushArrival) => void,
  ) {}

  async start(port = this.port, host = '127.0.0.1'): Promise<number> {
    const server = net.createServer((socket) => this.accept(socket))
    server.listen(port, host)
    await once(server, 'listening')
    this.server = server
    this.port = (server.address() as net.AddressInfo).port
    return this.port
  }

  /** Closes the port and cuts every connection, mid-flush if need be. */
  async stop(): Promise<void> {
    const server = this.server
    if (server === null) return
    this.server = null
    for (const socket of this.sockets) socket.destroy()
    await new Promise<void>((resolve) => server.close(() => resolve()))
  }

  get running(): boolean {
    return this.server !== null
  }

  private accept(socket: net.Socket): void {
    this.connections++
    this.sockets.add(socket)
    socket.on('close', () => this.sockets.delete(socket))
    socket.on('error', () => {})
    socket.setEncoding('utf8')
    let pending = ''
    socket.on('data', (chunk: string) => {
      pending += chunk
      let start = 0
      let nl: number
      while ((nl = pending.indexOf('\n', start)) >= 0) {
        this.parse(pending.slice(start, nl))
        start = nl + 1
      }
      pending = pending.slice(start)
    })
    // A tail without a newline is a line cut short: it is not a value.
    socket.on('end', () => {
      if (pending !== '') this.malformedLines++
      socket.end()
    })
  }

  private parse(line: string): void {
    if (line === '') return
    const a = line.indexOf(' ')
    const b = line.indexOf(' ', a + 1)
    const ts = Number(line.slice(b + 1))
    if (a <= 0 || b < 0 || line.indexOf(' ', b + 1) >= 0 || !Number.isInteger(ts)) {
      this.malformedLines++
      return
    }
    this.lines++
    const name = line.slice(0, a)
    if (name === this.flushMarker && !this.seenFlushes.has(ts)) {
      this.seenFlushes.add(ts)
      this.onFlush({ timestamp: ts, arrivedAt: Date.now() })
    }
    this.onLine(name, line.slice(a + 1, b), ts)
  }
}
