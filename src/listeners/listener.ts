import type { ListenerConfig } from '../config/schema'
import type { Logger } from '../log'
import type { IngestCounters } from '../core/ingest-counters'
import type { PacketQueue } from '../queue/queue'
import { startUdpDatagramListener } from './datagram/udp-native'
import { startUnixgramListener } from './datagram/unixgram'
import { startTcpListener } from './stream/tcp'
import { startUnixListener } from './stream/unix'

/** A running socket listener that feeds raw client bytes into the queue. */
export interface Listener {
  /** e.g. "udp 127.0.0.1:8125", "tcp [::1]:8125", "unix /run/statsd.sock" */
  readonly description: string
  /** The bound port (for port 0) or the socket path. */
  readonly boundAddress: { address: string; port: number } | { path: string }
  /**
   * Stop accepting; keep reading what clients have already sent (datagrams
   * the kernel holds, open connections) for at most `timeoutMs`; push any
   * pending partial lines; resolve when fully closed.
   */
  close(timeoutMs?: number): Promise<void>
  /** Figures only the listener knows, for the admin plane (read on request). */
  status?(): { kernelDrops?: number; connectionsOpen?: number }
  /** SIGHUP: re-read what the listener reads from files (TLS certificates). */
  reload?(): void
}

/** Starts the listener described by `cfg`; rejects if it cannot bind. */
export function startListener(
  cfg: ListenerConfig,
  queue: PacketQueue,
  counters: IngestCounters,
  log: Logger,
  /** Tagged on every packet this listener queues (its index in config.listeners). */
  source = 0,
): Promise<Listener> {
  switch (cfg.type) {
    case 'udp':
      return startUdpDatagramListener(cfg, queue, counters, log, source)
    case 'tcp':
      return startTcpListener(cfg, queue, counters, log, source)
    case 'unix':
      return startUnixListener(cfg, queue, counters, log, source)
    case 'unixgram':
      return startUnixgramListener(cfg, queue, counters, log, source)
  }
}
