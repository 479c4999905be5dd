import type { Logger } from '../../log'
import type { IngestCounters } from '../../core/ingest-counters'
import { findUdpSocketInode, type UdpSocketStats, udpSocketStats } from '../proc-net'
import { listenerMetricName } from '../../flush/ingest-self-metrics'
import { afterPoll } from '../shutdown'

/**
 * What the kernel says about one bound UDP socket (Linux /proc/net/udp{,6}),
 * shared by the dgram and the recvmmsg readers: its drops are reported at
 * every flush, and its receive queue tells shutdown when everything the
 * kernel accepted has been read.
 */
export interface UdpKernelQueue {
  /** Bytes still waiting in the socket's receive queue; undefined without /proc. */
  waiting(): number | undefined
  /**
   * Waits until the receive queue is empty or `timeoutMs` has passed (logged);
   * `read()` returns how many datagrams have been read so far, so that,
   * without /proc, one quiet turn of the event loop ends the wait.
   */
  drain(timeoutMs: number, read: () => number): Promise<void>
  /** Stops reporting drops (after counting the last ones). */
  stop(): void
  /** Datagrams the kernel dropped on this socket since the listener started. */
  drops(): number
}

export function watchUdpKernelQueue(
  address: string,
  port: number,
  counters: IngestCounters,
  log: Logger,
): UdpKernelQueue {
  const inode = findUdpSocketInode(address, port)
  if (inode === undefined) log.warn('cannot find this socket in /proc/net: kernel drops are not reported')
  const stats = (): UdpSocketStats | undefined => (inode === undefined ? undefined : udpSocketStats(address, inode))
  const metricName = listenerMetricName(address, port)
  const dropsAtStart = stats()?.drops ?? 0
  let dropsSeen = dropsAtStart
  counters.udpKernelDrops.set(metricName, 0)
  const pollDrops = (): void => {
    const drops = stats()?.drops
    if (drops === undefined || drops === dropsSeen) return
    counters.udpKernelDrops.set(metricName, (counters.udpKernelDrops.get(metricName) ?? 0) + drops - dropsSeen)
    dropsSeen = drops
  }
  const stopPolling = counters.addPoller(pollDrops)

  return {
    waiting: () => stats()?.rxQueue,
    drain: async (timeoutMs, read) => {
      const deadline = Date.now() + timeoutMs
      for (;;) {
        const before = read()
        const left = stats()?.rxQueue
        if (left === 0) return
        if (Date.now() >= deadline) {
          log.warn(
            { bytesLeft: left, shutdownTimeoutMs: timeoutMs },
            'shutdown time ran out: datagrams still queued in the kernel are lost',
          )
          return
        }
        await afterPoll()
        if (left === undefined && read() === before) return
      }
    },
    stop: () => {
      pollDrops()
      stopPolling()
    },
    drops: () => dropsSeen - dropsAtStart,
  }
}
