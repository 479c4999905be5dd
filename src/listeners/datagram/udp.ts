import dgram from 'node:dgram'
import net from 'node:net'
import type { UdpListenerConfig } from '../../config/schema'
import type { Logger } from '../../log'
import type { IngestCounters } from '../../core/ingest-counters'
import { hostPort } from '../../core/host-port'
import { ListenError } from '../listen-error'
import type { Listener } from '../listener'
import type { PacketQueue } from '../../queue/queue'
import { DEFAULT_SHUTDOWN_TIMEOUT_MS } from '../shutdown'
import { watchUdpKernelQueue } from './udp-kernel-queue'

/**
 * Listens for datagrams and queues each one as is: a datagram is one packet,
 * parsed later by the aggregator.
 */
export async function startUdpListener(
  cfg: UdpListenerConfig,
  queue: PacketQueue,
  counters: IngestCounters,
  log: Logger,
  source = 0,
): Promise<Listener> {
  const socket = dgram.createSocket(net.isIPv6(cfg.address) ? 'udp6' : 'udp4')
  await bind(socket, cfg.address, cfg.port)

  const bound = socket.address()
  const description = `udp ${hostPort(bound.address, bound.port)}`
  const llog = log.child({ listener: description })
  // After bind, an error is about one send/receive; the socket keeps working.
  socket.on('error', (err) => llog.error({ err }, 'udp socket error'))

  if (cfg.recvBufferSize !== undefined) applyRecvBufferSize(socket, cfg.recvBufferSize, llog)

  // Counts arrivals: without /proc, close() can only tell the kernel buffer is empty by a quiet turn.
  let received = 0
  socket.on('message', (msg) => {
    received++
    queue.push(msg, source)
  })

  const kernel = watchUdpKernelQueue(bound.address, bound.port, counters, llog)

  let closing: Promise<void> | null = null
  const close = async (timeoutMs: number): Promise<void> => {
    // Datagrams the kernel has accepted are ours to process.
    await kernel.drain(timeoutMs, () => received)
    kernel.stop()
    await new Promise<void>((resolve) => socket.close(() => resolve()))
  }

  return {
    description,
    boundAddress: { address: bound.address, port: bound.port },
    close: (timeoutMs = DEFAULT_SHUTDOWN_TIMEOUT_MS) => (closing ??= close(timeoutMs)),
    status: () => ({ kernelDrops: kernel.drops() }),
  }
}

function bind(socket: dgram.Socket, address: string, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (err: Error): void => {
      socket.removeListener('listening', onListening)
      socket.close()
      reject(new ListenError(`udp ${hostPort(address, port)}`, err))
    }
    const onListening = (): void => {
      socket.removeListener('error', onError)
      resolve()
    }
    socket.once('error', onError)
    socket.once('listening', onListening)
    socket.bind({ address, port, exclusive: true })
  })
}

/** A too-large SO_RCVBUF is capped by the OS (net.core.rmem_max): say so rather than fail. */
function applyRecvBufferSize(socket: dgram.Socket, size: number, log: Logger): void {
  try {
    socket.setRecvBufferSize(size)
    // Linux reports twice the value it grants (bookkeeping overhead).
    warnIfRecvBufferSmall(size, socket.getRecvBufferSize(), log)
  } catch (err) {
    log.warn({ err, requested: size }, 'cannot set udp receive buffer size')
  }
}

/** A too-large SO_RCVBUF is capped by the OS (net.core.rmem_max): say so rather than fail. */
export function warnIfRecvBufferSmall(requested: number | undefined, granted: number, log: Logger): void {
  if (requested !== undefined && granted < requested) {
    log.warn({ requested, granted }, 'receive buffer smaller than requested (see net.core.rmem_max)')
  }
}
