import dgram from 'node:dgram'
import { once } from 'node:events'
import net from 'node:net'
import type { Transport } from './workload'

/** Where the server under test listens. */
export interface Target {
  udp?: { host: string; port: number }
  tcp?: { host: string; port: number }
  unix?: string
}

/**
 * One way of getting packets to the server. `send` takes one packet (lines
 * joined by newlines) and calls `done(true)` once the transport has taken it,
 * or `done(false)` if it could not (then the harness does not expect it).
 */
export interface Sender {
  readonly transport: Transport
  /** True while the transport pushes back (TCP buffer full, too many connections open). */
  busy(): boolean
  send(packet: string, done: (taken: boolean) => void): void
  /** Errors seen (connection refused/reset, send failures), for the report. */
  errors: number
  close(): Promise<void>
}

/** At most this many one-shot connections open at once, as a crowd of short-lived clients. */
const MAX_SHORT_CONNECTIONS = 32

export async function openSender(transport: Transport, target: Target): Promise<Sender> {
  switch (transport) {
    case 'udp':
      return new UdpSender(need(target.udp, 'udp'))
    case 'tcp':
      return StreamSender.open('tcp', need(target.tcp, 'tcp'))
    case 'unix':
      return StreamSender.open('unix', need(target.unix, 'unix'))
    case 'tcp-short':
      return new ShortConnectionSender(need(target.tcp, 'tcp'))
  }
}

function need<T>(value: T | undefined, what: string): T {
  if (value === undefined) throw new Error(`the server under test has no ${what} listener`)
  return value
}

class UdpSender implements Sender {
  readonly transport = 'udp'
  errors = 0
  private inFlight = 0
  private readonly socket: dgram.Socket

  constructor(private readonly target: { host: string; port: number }) {
    this.socket = dgram.createSocket(net.isIPv6(target.host) ? 'udp6' : 'udp4')
    this.socket.on('error', () => this.errors++)
  }

  busy(): boolean {
    return this.inFlight > 1000
  }

  send(packet: string, done: (taken: boolean) => void): void {
    this.inFlight++
    this.socket.send(packet, this.target.port, this.target.host, (err) => {
      this.inFlight--
      if (err) this.errors++
      done(!err)
    })
  }

  async close(): Promise<void> {
    this.socket.close()
  }
}

/** One persistent connection (TCP or Unix stream), as a long-lived client. */
class StreamSender implements Sender {
  errors = 0

  private constructor(
    readonly transport: Transport,
    private readonly socket: net.Socket,
  ) {
    socket.on('error', () => this.errors++)
    socket.resume()
  }

  static async open(transport: Transport, where: { host: string; port: number } | string): Promise<StreamSender> {
    const socket = typeof where === 'string' ? net.createConnection(where) : net.createConnection(where.port, where.host)
    await Promise.race([once(socket, 'connect'), once(socket, 'error').then(([err]) => Promise.reject(err as Error))])
    return new StreamSender(transport, socket)
  }

  busy(): boolean {
    return this.socket.writableNeedDrain
  }

  send(packet: string, done: (taken: boolean) => void): void {
    if (this.socket.destroyed) {
      done(false)
      return
    }
    // Written bytes are the kernel's to deliver; a later reset shows up in `errors`.
    this.socket.write(packet + '\n')
    done(true)
  }

  async close(): Promise<void> {
    if (this.socket.destroyed) return
    this.socket.end()
    await once(this.socket, 'close')
  }
}

/** A new connection per packet: connect, write, close, as short-lived clients (cron jobs, CGI) do. */
class ShortConnectionSender implements Sender {
  readonly transport = 'tcp-short'
  errors = 0
  private open = 0
  private idle: (() => void) | null = null

  constructor(private readonly target: { host: string; port: number }) {}

  busy(): boolean {
    return this.open >= MAX_SHORT_CONNECTIONS
  }

  send(packet: string, done: (taken: boolean) => void): void {
    this.open++
    const socket = net.createConnection(this.target.port, this.target.host)
    let failed = false
    socket.on('error', () => {
      failed = true
      this.errors++
    })
    socket.on('connect', () => socket.end(packet + '\n'))
    socket.resume()
    socket.on('close', () => {
      this.open--
      done(!failed)
      if (this.open === 0) this.idle?.()
    })
  }

  async close(): Promise<void> {
    if (this.open > 0) await new Promise<void>((resolve) => (this.idle = resolve))
  }
}
