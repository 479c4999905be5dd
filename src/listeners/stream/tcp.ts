import net from 'node:net'
import tls from 'node:tls'
import type { TcpListenerConfig } from '../../config/schema'
import type { IngestCounters } from '../../core/ingest-counters'
import { hostPort } from '../../core/host-port'
import type { Listener } from '../listener'
import type { PacketQueue } from '../../queue/queue'
import { DEFAULT_SHUTDOWN_TIMEOUT_MS } from '../shutdown'
import type { Logger } from '../../log'
import { reloadCertificates, tlsServerOptions } from '../../core/tls-options'
import { listen, serveStream } from './stream-server'

/** Newline-delimited metrics over TCP, or over TLS when `cfg.tls` is set. */
export async function startTcpListener(
  cfg: TcpListenerConfig,
  queue: PacketQueue,
  counters: IngestCounters,
  log: Logger,
  source = 0,
): Promise<Listener> {
  const secure = cfg.tls
  const server = secure === undefined ? net.createServer({ allowHalfOpen: false }) : tls.createServer({ ...tlsServerOptions(secure), allowHalfOpen: false })
  const kind = secure === undefined ? 'tcp' : 'tls'
  await listen(server, { host: cfg.address, port: cfg.port, exclusive: true }, `${kind} ${hostPort(cfg.address, cfg.port)}`)
  const bound = server.address() as net.AddressInfo
  const description = `${kind} ${hostPort(bound.address, bound.port)}`
  const listenerLog = log.child({ listener: description })
  const serving = serveStream(server, cfg, queue, counters, listenerLog, source, false, secure !== undefined && { verifyClients: secure.clientCaFile !== undefined })
  let closing: Promise<void> | null = null
  return {
    description,
    boundAddress: { address: bound.address, port: bound.port },
    close: (timeoutMs = DEFAULT_SHUTDOWN_TIMEOUT_MS) => (closing ??= serving.stop(timeoutMs)),
    status: () => ({ connectionsOpen: serving.open() }),
    ...(secure !== undefined && {
      reload: () => reloadCertificates(server as tls.Server, secure, listenerLog),
    }),
  }
}
