import type net from 'node:net'
import { hostPort } from '../../core/host-port'
import { type StreamClients, StreamClient } from './clients'

/*
 * The portable way to read stream clients: a net.Socket each. Used when
 * Node's stream internals are not there (see libuv-handles.ts); it costs
 * about three times the CPU per short-lived connection. TLS clients are
 * always read this way: their bytes must go through Node's TLS layer.
 */

const CLIENT = Symbol('statsd-ts client')
type ClientSocket = net.Socket & { [CLIENT]: SocketClient }

class SocketClient extends StreamClient {
  constructor(private readonly socket: net.Socket) {
    super()
  }

  peer(): string {
    const { remoteAddress, remotePort } = this.socket
    return remoteAddress !== undefined ? hostPort(remoteAddress, remotePort ?? 0) : 'local'
  }

  stopReading(): void {
    this.socket.pause()
  }

  startReading(): void {
    this.socket.resume()
  }

  sendFin(): void {
    this.socket.end()
  }

  close(): void {
    this.socket.destroy()
  }
}

/** Serves `server`'s clients as net.Sockets, feeding `clients`. */
export function serveWithSockets(
  server: net.Server,
  clients: StreamClients,
  maxConnections: number | undefined,
  /** "secureConnection" on a tls.Server: a client is one once its handshake is done. */
  clientEvent: 'connection' | 'secureConnection' = 'connection',
  /** Whether to serve this socket at all (false: the caller has closed it). */
  accept: (socket: net.Socket) => boolean = () => true,
): void {
  // One set of listener functions for every socket: `this` is the socket.
  const clientOf = (socket: net.Socket): SocketClient => (socket as ClientSocket)[CLIENT]
  function onData(this: net.Socket, chunk: Buffer): void {
    clients.data(clientOf(this), chunk)
  }
  function onEnd(this: net.Socket): void {
    clients.end(clientOf(this))
  }
  function onError(this: net.Socket, err: Error): void {
    clients.failed(clientOf(this), err)
  }

  if (maxConnections !== undefined) server.maxConnections = maxConnections
  server.on(clientEvent, (socket: net.Socket) => {
    if (!accept(socket)) return
    const client = new SocketClient(socket)
    ;(socket as ClientSocket)[CLIENT] = client
    socket.on('data', onData).on('end', onEnd).on('close', onEnd).on('error', onError)
    clients.add(client)
  })
  // Node closes a client past maxConnections at once: count it.
  server.on('drop', (peer?: { remoteAddress?: string; remotePort?: number }) => {
    clients.refused(peer?.remoteAddress !== undefined ? hostPort(peer.remoteAddress, peer.remotePort ?? 0) : 'local')
  })
}
