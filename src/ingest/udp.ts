import dgram from 'node:dgram'
import net from 'node:net'
import { setImmediate as nextTurn } from 'node:timers/promises'
import type { UdpListenerConfig } from '../config/schema'
import type { Logger } from '../log'
import { hostPort } from './host-port'
import type { Listener } from './listener'
import type { PacketQueue } from './queue'

/** Upper bound on how long close() keeps reading datagrams already queued by the kernel. */
const DRAIN_LIMIT_MS = 250

/**
 * Listens for datagrams and queues each one as is: a datagram is one packet,
 * parsed later by the aggregator.
 */
export async function startUdpListener(
  cfg: UdpListenerConfig,
  queue: PacketQueue,
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

  // Counts arrivals so that close() can tell when the kernel buffer is empty.
  let received = 0
  socket.on('message', (msg) => {
    received++
    queue.push(msg, source)
  })

  let closing: Promise<void> | null = null
  const close = async (): Promise<void> => {
    // Datagrams still in the kernel buffer would be lost by closing now: keep
    // the loop turning (each turn reads what is waiting) until a whole turn
    // brings nothing new.
    const deadline = Date.now() + DRAIN_LIMIT_MS
    let before: number
    do {
      before = received
      await nextTurn()
    } while (received !== before && Date.now() < deadline)
    await new Promise<void>((resolve) => socket.close(() => resolve()))
  }

  return {
    description,
    boundAddress: { address: bound.address, port: bound.port },
    close: () => (closing ??= close()),
  }
}

function bind(socket: dgram.Socket, address: string, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (err: Error): void => {
      socket.removeListener('listening', onListening)
      socket.close()
      reject(new Error(`cannot listen on udp ${hostPort(address, port)}: ${err.message}`, { cause: err }))
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
    const granted = socket.getRecvBufferSize()
    if (granted < size) {
      log.warn({ requested: size, granted }, 'udp receive buffer smaller than requested (see net.core.rmem_max)')
    }
  } catch (err) {
    log.warn({ err, requested: size }, 'cannot set udp receive buffer size')
  }
}
