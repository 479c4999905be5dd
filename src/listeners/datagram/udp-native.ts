import dns from 'node:dns/promises'
import net from 'node:net'
import type { UdpListenerConfig } from '../../config/schema'
import type { IngestCounters } from '../../core/ingest-counters'
import { hostPort } from '../../core/host-port'
import type { Listener } from '../listener'
import { ListenError } from '../listen-error'
import type { PacketQueue } from '../../queue/queue'
import { watchUdpKernelQueue } from './udp-kernel-queue'
import { startUdpListener, warnIfRecvBufferSmall } from './udp'
import type { Logger } from '../../log'
import { nativeReader, readDatagrams } from './native-reader'

/**
 * A UDP listener read on a native thread with recvmmsg (many datagrams per
 * system call, one queue entry per slab of them), or with node:dgram on the
 * JavaScript thread when the addon is not available; which one is logged at
 * start-up.
 */
export async function startUdpDatagramListener(
  cfg: UdpListenerConfig,
  queue: PacketQueue,
  counters: IngestCounters,
  log: Logger,
  source = 0,
): Promise<Listener> {
  const reader = nativeReader()
  if (!('addon' in reader)) {
    const listener = await startUdpListener(cfg, queue, counters, log, source)
    log.warn({ listener: listener.description, reason: reader.unavailable }, 'udp reader: node:dgram on the JavaScript thread (native reader thread unavailable)')
    return listener
  }
  const { addon } = reader
  const what = `udp ${hostPort(cfg.address, cfg.port)}`
  let bound
  let ip: string
  try {
    ip = net.isIP(cfg.address) !== 0 ? cfg.address : (await dns.lookup(cfg.address, { family: 4 })).address
    bound = addon.bindUdp(ip, cfg.port, cfg.recvBufferSize ?? 0)
  } catch (err) {
    throw new ListenError(what, asSystemError(err))
  }
  const description = `udp ${hostPort(ip, bound.port)}`
  const llog = log.child({ listener: description })
  warnIfRecvBufferSmall(cfg.recvBufferSize, bound.recvBufferSize, llog)
  // UDP datagrams (at most 65507 bytes) always fit the addon's slots.
  const datagrams = readDatagrams(addon, bound.fd, queue, counters, llog, (n) => (counters.oversizedLines += n), source)
  const kernel = watchUdpKernelQueue(ip, bound.port, counters, llog)
  llog.info({ routesToShards: datagrams.routes }, 'udp reader: recvmmsg on a reader thread (native)')
  return {
    description,
    boundAddress: { address: ip, port: bound.port },
    // The kernel forgets a closed socket's drops: count them first. The addon
    // then reads everything the kernel holds before it closes the socket.
    close: async () => {
      kernel.stop()
      datagrams.close()
    },
    status: () => ({ kernelDrops: kernel.drops() }),
  }
}

/** The addon reports errno as a positive number; Node's error map (and ListenError) use libuv's negative ones. */
export function asSystemError(err: unknown): unknown {
  const e = err as NodeJS.ErrnoException
  return typeof e.errno === 'number' && e.errno > 0 ? Object.assign(e, { errno: -e.errno }) : err
}
