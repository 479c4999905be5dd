import net from 'node:net'
import type { TcpListenerConfig } from '../../config/schema'
import type { IngestCounters } from '../../core/ingest-counters'
import { hostPort } from '../../core/host-port'
import type { Listener } from '../listener'
import type { PacketQueue } from '../../queue/queue'
import { DEFAULT_SHUTDOWN_TIMEOUT_MS } from '../shutdown'
import type { Logger } from '../../log'
import { listen, serveStream } from './stream-server'

/** Newline-delimited metrics over TCP. */
export async function startTcpListener(
  cfg: TcpListenerConfig,
  queue: PacketQueue,
  counters: IngestCounters,
  log: Logger,
  source = 0,
): Promise<Listener> {
  const server = net.createServer({ allowHalfOpen: false })
  await listen(server, { host: cfg.address, port: cfg.port, exclusive: true }, `tcp ${hostPort(cfg.address, cfg.port)}`)
  const bound = server.address() as net.AddressInfo
  const description = `tcp ${hostPort(bound.address, bound.port)}`
  const serving = serveStream(server, cfg, queue, counters, log.child({ listener: description }), source, false)
  let closing: Promise<void> | null = null
  return {
    description,
    boundAddress: { address: bound.address, port: bound.port },
    close: (timeoutMs = DEFAULT_SHUTDOWN_TIMEOUT_MS) => (closing ??= serving.stop(timeoutMs)),
    status: () => ({ connectionsOpen: serving.open() }),
  }
}
