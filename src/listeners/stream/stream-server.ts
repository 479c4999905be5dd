import type net from 'node:net'
import type { IngestCounters } from '../../core/ingest-counters'
import { ListenError } from '../listen-error'
import type { PacketQueue } from '../../queue/queue'
import { afterPoll } from '../shutdown'
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
 * Serves clients on an already-listening `server`. Shared by TCP and unix
 * sockets: only the address differs.
 */
export function serveStream(
  server: net.Server,
  limits: StreamLimits,
  queue: PacketQueue,
  counters: IngestCounters,
  log: Logger,
  source: number,
  holdBusyClients: boolean,
): StreamServing {
  const clients = new StreamClients(limits, queue, counters, log, source, holdBusyClients)
  const unavailable = serveWithHandles(server, clients)
  if (unavailable === null) {
    log.info('stream reader: libuv handles')
  } else {
    serveWithSockets(server, clients, limits.maxConnections)
    log.warn({ reason: unavailable }, 'stream reader: net.Socket (libuv handles unavailable)')
  }
  // After listen, server errors are about accepting one client (EMFILE...); keep serving.
  server.on('error', (err) => clients.acceptFailed(err))

  const stop = async (timeoutMs: number): Promise<void> => {
    // Clients the kernel has already connected wait in the backlog: take them too.
    await afterPoll()
    const closed = new Promise<void>((resolve) => server.close(() => resolve()))
    await clients.stop(timeoutMs)
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
