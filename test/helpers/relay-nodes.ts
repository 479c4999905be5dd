import dgram from 'node:dgram'
import { once } from 'node:events'
import net from 'node:net'

/**
 * A stand-in for an aggregating node behind a relay: it records every
 * datagram (or TCP line) it receives, and answers `health` on its own
 * management port as statsd does, "up" or "down" as the test sets it.
 */
export class SinkNode {
  readonly datagrams: Buffer[] = []
  readonly lines: string[] = []
  health: 'up' | 'down' = 'up'
  /** While set, TCP clients are not read: their data waits in the kernel, then in the relay. */
  private tcpPaused = false
  private udpClosed = false
  private tcpPending = ''
  private readonly tcpClients = new Set<net.Socket>()
  private waiters: (() => void)[] = []

  private constructor(
    private readonly udp: dgram.Socket,
    private readonly tcp: net.Server,
    private readonly mgmt: net.Server,
  ) {}

  static async start(): Promise<SinkNode> {
    // UDP and TCP on the same port number, as a statsd node listens on both: retried until one is free for both.
    let udp: dgram.Socket
    let tcp: net.Server
    for (;;) {
      udp = dgram.createSocket('udp4')
      udp.bind(0, '127.0.0.1')
      await once(udp, 'listening')
      tcp = net.createServer()
      const listening = await new Promise<boolean>((resolve) => {
        tcp.once('error', () => resolve(false))
        tcp.listen(udp.address().port, '127.0.0.1', () => resolve(true))
      })
      if (listening) break
      udp.close()
    }
    // The kernel caps it at net.core.rmem_max: bursts from proxy.js (a datagram per line) must fit.
    udp.setRecvBufferSize(4 * 1024 * 1024)
    const mgmt = net.createServer()
    mgmt.listen(0, '127.0.0.1')
    await once(mgmt, 'listening')
    const node = new SinkNode(udp, tcp, mgmt)
    udp.on('message', (msg) => node.received(msg, true))
    tcp.on('connection', (socket) => {
      node.tcpClients.add(socket)
      if (node.tcpPaused) socket.pause()
      socket.on('close', () => node.tcpClients.delete(socket))
      socket.on('data', (chunk) => node.received(chunk, false))
      socket.on('error', () => {})
    })
    mgmt.on('connection', (socket) => {
      socket.on('error', () => {})
      socket.on('data', () => socket.write(`health: ${node.health}\n`))
    })
    return node
  }

  get port(): number {
    return (this.tcp.address() as net.AddressInfo).port
  }

  get adminport(): number {
    return (this.mgmt.address() as net.AddressInfo).port
  }

  get id(): string {
    return `127.0.0.1:${this.port}`
  }

  private received(chunk: Buffer, datagram: boolean): void {
    if (datagram) {
      this.datagrams.push(chunk)
      for (const line of chunk.toString().split('\n')) if (line !== '') this.lines.push(line)
    } else {
      this.tcpPending += chunk.toString()
      const parts = this.tcpPending.split('\n')
      this.tcpPending = parts.pop()!
      this.lines.push(...parts.filter((l) => l !== ''))
    }
    const waiters = this.waiters
    this.waiters = []
    for (const wake of waiters) wake()
  }

  /** Closes the UDP socket: the port answers ICMP port unreachable from now on. */
  async closeUdp(): Promise<void> {
    await new Promise<void>((resolve) => this.udp.close(() => resolve()))
    this.udpClosed = true
  }

  pauseTcp(): void {
    this.tcpPaused = true
    for (const socket of this.tcpClients) socket.pause()
  }

  resumeTcp(): void {
    this.tcpPaused = false
    for (const socket of this.tcpClients) socket.resume()
  }

  /** Resolves on the next arrival. */
  nextArrival(): Promise<void> {
    return new Promise((resolve) => this.waiters.push(resolve))
  }

  async close(): Promise<void> {
    for (const socket of this.tcpClients) socket.destroy()
    await Promise.all([
      new Promise<void>((resolve) => (this.udpClosed ? resolve() : this.udp.close(() => resolve()))),
      new Promise<void>((resolve) => this.tcp.close(() => resolve())),
      new Promise<void>((resolve) => this.mgmt.close(() => resolve())),
    ])
  }
}

/** Resolves once the nodes hold `total` lines between them; rejects after timeoutMs. */
export async function untilLines(nodes: readonly SinkNode[], total: number, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  const count = (): number => nodes.reduce((n, node) => n + node.lines.length, 0)
  while (count() < total) {
    const left = deadline - Date.now()
    if (left <= 0) throw new Error(`the nodes got ${count()} of ${total} lines`)
    let timer: NodeJS.Timeout | undefined
    await Promise.race([...nodes.map((n) => n.nextArrival()), new Promise((r) => (timer = setTimeout(r, Math.min(left, 200))))])
    clearTimeout(timer)
  }
}
