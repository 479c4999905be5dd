import net from 'node:net'
import { once } from 'node:events'
import { hostPort } from '../core/host-port'
import type { Forwarder, ForwarderEvents } from './forwarder'

const CONNECT_TIMEOUT_MS = 5_000

/**
 * Batches on one TCP connection per node. Past highWaterBytes waiting in
 * the socket it is congested: the relay stops draining its queue, which
 * pauses its stream clients (the queue's own backpressure) until 'drain'.
 * A write that fails reports its lines lost; a closed connection takes the
 * node down at once, and open() reconnects once its health check passes.
 */
export class TcpForwarder implements Forwarder {
  private socket: net.Socket | null = null
  readonly description: string

  constructor(
    private readonly host: string,
    private readonly port: number,
    private readonly highWaterBytes: number,
    private readonly events: ForwarderEvents,
  ) {
    this.description = `tcp ${hostPort(host, port)}`
  }

  get ready(): boolean {
    return this.socket !== null
  }

  get congested(): boolean {
    return this.socket !== null && this.socket.writableLength > this.highWaterBytes
  }

  async open(): Promise<void> {
    if (this.socket !== null) return
    const socket = net.connect({ host: this.host, port: this.port })
    socket.setTimeout(CONNECT_TIMEOUT_MS, () => socket.destroy(new Error('connect timed out')))
    try {
      await once(socket, 'connect')
      socket.setTimeout(0)
    } catch (err) {
      socket.destroy()
      throw err
    }
    socket.setNoDelay(true)
    socket.on('drain', () => this.events.onDrain())
    // Nodes send nothing back; read to notice their FIN.
    socket.on('data', () => {})
    socket.on('end', () => socket.end())
    socket.on('error', () => {}) // 'close' follows and reports it
    socket.on('close', () => {
      if (this.socket !== socket) return
      this.socket = null
      this.events.onFailure(new Error(`connection to ${this.description} closed`))
    })
    this.socket = socket
  }

  send(datagram: Buffer, lines: number): void {
    if (this.socket === null) return this.events.onLost(lines, new Error(`${this.description} is closed`))
    this.socket.write(datagram, (err) => {
      if (err !== null && err !== undefined) this.events.onLost(lines, err)
    })
  }

  async close(): Promise<void> {
    const socket = this.socket
    this.socket = null
    if (socket === null) return
    const closed = once(socket, 'close')
    socket.end()
    const timer = setTimeout(() => socket.destroy(), 2_000)
    await closed
    clearTimeout(timer)
  }
}
