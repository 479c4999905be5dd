import type net from 'node:net'
import type tls from 'node:tls'
import { hostPort } from '../../core/host-port'
import type { IngestCounters } from '../../core/ingest-counters'
import { ListenError } from '../listen-error'
import type { PacketQueue } from '../../queue/queue'
import { afterPoll } from '../shutdown'
import { clientCertificateProblem } from '../../core/tls-options'
import type { Logger } from '../../log'
import { type StreamLimits, StreamClients } from './clients'
import { serveWithHandles } from './libuv-handles'
import { serveWithSockets } from './net-sockets'

export interface StreamServing {
  /** Stops accepting, closes every client gracefully (see StreamClients.stop), resolves once all is closed. */
  stop(timeoutMs: number): Promise<void>
  /** Clients connected now. */
  open(): number
}

/**
 * Serves clients on an already-listening `server`. Shared by TCP (plain or
 * TLS) and unix sockets: only the address differs. A TLS server's clients
 * are read as net.Sockets once their handshake is done; until then they are
 * held only by the handshake deadline.
 */
export function serveStream(
  server: net.Server,
  limits: StreamLimits,
  queue: PacketQueue,
  counters: IngestCounters,
  log: Logger,
  source: number,
  holdBusyClients: boolean,
  /** A tls.Server's: whether clients must present a certificate that verifies (mTLS). */
  secure: { verifyClients: boolean } | false = false,
): StreamServing {
  const clients = new StreamClients(limits, queue, counters, log, source, holdBusyClients)
  // Connections not (yet) handed to `clients`: TLS handshakes in progress.
  const raw = new Set<net.Socket>()
  const peer = (socket: net.Socket): string => hostPort(socket.remoteAddress ?? 'unknown', socket.remotePort ?? 0)
  if (secure !== false) {
    counters.tlsHandshakeFailures ??= 0
    serveWithSockets(server, clients, limits.maxConnections, 'secureConnection', (socket) => {
      const problem = secure.verifyClients ? clientCertificateProblem(socket as tls.TLSSocket) : null
      if (problem === null) return true
      clients.handshakeFailed({ name: 'Error', message: problem, code: problem }, peer(socket))
      socket.destroy()
      return false
    })
    log.info('stream reader: net.Socket (TLS)')
    server.on('connection', (socket: net.Socket) => {
      raw.add(socket)
      socket.once('close', () => raw.delete(socket))
    })
    // With a listener here, Node leaves the socket open (even past the handshake deadline): close it.
    server.on('tlsClientError', (err: Error, socket: tls.TLSSocket) => {
      clients.handshakeFailed(err, peer(socket))
      socket.destroy()
    })
  } else {
    const unavailable = serveWithHandles(server, clients)
    if (unavailable === null) {
      log.info('stream reader: libuv handles')
    } else {
      serveWithSockets(server, clients, limits.maxConnections)
      log.warn({ reason: unavailable }, 'stream reader: net.Socket (libuv handles unavailable)')
    }
  }
  // After listen, server errors are about accepting one client (EMFILE...); keep serving.
  server.on('error', (err) => clients.acceptFailed(err))

  const stop = async (timeoutMs: number): Promise<void> => {
    // Clients the kernel has already connected wait in the backlog: take them too.
    await afterPoll()
    const closed = new Promise<void>((resolve) => server.close(() => resolve()))
    await clients.stop(timeoutMs)
    // A handshake still going on has sent no data: it would hold close() until its deadline.
    for (const socket of raw) socket.destroy()
    await closed
  }
  return { stop, open: () => clients.size }
}

export function listen(server: net.Server, options: net.ListenOptions, what: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (err: Error): void => {
      server.removeListener('listening', onListening)
      reject(new ListenError(what, err))
    }
    const onListening = (): void => {
      server.removeListener('error', onError)
      resolve()
    }
    server.once('error', onError)
    server.once('listening', onListening)
    server.listen(options)
  })
}
