import dns from 'node:dns/promises'
import net from 'node:net'
import type { UdpListenerConfig } from '../../config/schema'
import type { IngestCounters } from '../../ingest/counters'
import { hostPort } from '../../ingest/host-port'
import type { Listener } from '../../ingest/listener'
import type { PacketQueue } from '../../ingest/queue'
import { startUdpListener } from '../../ingest/udp'
import type { Logger } from '../../log'
import { nativeReader, readDatagrams } from './native-reader'

/**
 * A UDP listener that reads with recvmmsg (many datagrams per system call,
 * one queue entry per batch), or with node:dgram when the addon is not
 * available; which one is logged at start-up.
 */
export async function startUdpDatagramListener(
  cfg: UdpListenerConfig,
  queue: PacketQueue,
  counters: IngestCounters,
  log: Logger,
): Promise<Listener> {
  const reader = nativeReader()
  if (!('addon' in reader)) {
    const listener = await startUdpListener(cfg, queue, log)
    log.warn({ listener: listener.description, reason: reader.unavailable }, 'udp reader: node:dgram (native recvmmsg reader unavailable)')
    return listener
  }
  const { addon } = reader
  const ip = net.isIP(cfg.address) !== 0 ? cfg.address : (await dns.lookup(cfg.address, { family: 4 })).address
  let bound
  try {
    bound = addon.bindUdp(ip, cfg.port, cfg.recvBufferSize ?? 0)
  } catch (err) {
    throw new Error(`cannot listen on udp ${hostPort(cfg.address, cfg.port)}: ${(err as Error).message}`, { cause: err })
  }
  const description = `udp ${hostPort(ip, bound.port)}`
  const llog = log.child({ listener: description })
  warnIfRecvBufferSmall(cfg.recvBufferSize, bound.recvBufferSize, llog)
  // UDP datagrams (at most 65507 bytes) always fit the addon's slots.
  const datagrams = readDatagrams(addon, bound.fd, queue, (n) => (counters.oversizedLines += n))
  llog.info('udp reader: recvmmsg (native)')
  return {
    description,
    boundAddress: { address: ip, port: bound.port },
    close: async () => datagrams.close(),
  }
}

/** A too-large SO_RCVBUF is capped by the OS (net.core.rmem_max): say so rather than fail. */
export function warnIfRecvBufferSmall(requested: number | undefined, granted: number, log: Logger): void {
  if (requested !== undefined && granted < requested) {
    log.warn({ requested, granted }, 'receive buffer smaller than requested (see net.core.rmem_max)')
  }
}
