import dgram from 'node:dgram'
import { lookup } from 'node:dns/promises'
import { once } from 'node:events'
import { hostPort } from '../core/host-port'
import type { Forwarder, ForwarderEvents } from './forwarder'

/**
 * Batches as datagrams on a connected UDP socket: no name lookup per send,
 * and the kernel reports a closed port (ICMP port unreachable) as
 * ECONNREFUSED on a later send, which takes the node down before its next
 * health check.
 */
export class UdpForwarder implements Forwarder {
  private socket: dgram.Socket | null = null
  readonly congested = false
  readonly description: string

  constructor(
    private readonly host: string,
    private readonly port: number,
    private readonly events: ForwarderEvents,
  ) {
    this.description = `udp ${hostPort(host, port)}`
  }

  get ready(): boolean {
    return this.socket !== null
  }

  async open(): Promise<void> {
    if (this.socket !== null) return
    const { address, family } = await lookup(this.host)
    const socket = dgram.createSocket(family === 6 ? 'udp6' : 'udp4')
    socket.on('error', (err) => this.events.onFailure(err))
    try {
      socket.connect(this.port, address)
      await once(socket, 'connect')
    } catch (err) {
      socket.close()
      throw err
    }
    this.socket ??= socket
  }

  send(datagram: Buffer, lines: number): void {
    if (this.socket === null) return this.events.onLost(lines, new Error(`${this.description} is closed`))
    this.socket.send(datagram, (err) => {
      if (err === null || err === undefined) return
      this.events.onLost(lines, err)
      if ((err as NodeJS.ErrnoException).code === 'ECONNREFUSED') this.events.onFailure(err)
    })
  }

  async close(): Promise<void> {
    const socket = this.socket
    this.socket = null
    if (socket !== null) await new Promise<void>((resolve) => socket.close(() => resolve()))
  }
}
