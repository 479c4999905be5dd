import type { SelfMetric } from '../aggregate/flush-data'
import type { IngestSnapshot } from '../core/ingest-counters'

/**
 * The ingest side's figures for one flush interval, as the server's own
 * metrics (names relative to prefixStats; README "Graphite output" lists
 * them). Every name is sent with every flush, zeros included, so that a
 * graph shows "no drops" rather than a gap.
 */
export function ingestSelfMetrics(s: IngestSnapshot): SelfMetric[] {
  const metrics: SelfMetric[] = [
    { name: 'queue.dropped_packets', value: s.queueDroppedPackets },
    { name: 'queue.dropped_bytes', value: s.queueDroppedBytes },
    { name: 'queue.stream_pauses', value: s.streamPauses },
    { name: 'stream.lines_too_long', value: s.oversizedLines },
    { name: 'stream.refused_connections', value: s.refusedConnections },
    { name: 'stream.accept_errors', value: s.acceptErrors },
    { name: 'stream.idle_timeouts', value: s.idleTimeouts },
    { name: 'stream.connection_errors', value: s.connectionErrors },
    { name: 'stream.shutdown_disconnects', value: s.shutdownDisconnects },
  ]
  if (s.tlsHandshakeFailures !== undefined) metrics.push({ name: 'stream.tls_handshake_failures', value: s.tlsHandshakeFailures })
  for (const [listener, drops] of s.udpKernelDrops) metrics.push({ name: `udp.${listener}.kernel_drops`, value: drops })
  return metrics
}

/** Whether anything a client sent was lost (the rest of the snapshot is about clients, not data). */
export function inputLost(s: IngestSnapshot): boolean {
  let kernelDrops = 0
  for (const drops of s.udpKernelDrops.values()) kernelDrops += drops
  return (
    s.queueDroppedPackets + s.oversizedLines + s.refusedConnections + s.acceptErrors + s.shutdownDisconnects + kernelDrops > 0
  )
}

/** "127.0.0.1", 8125 -> "127_0_0_1_8125": one Graphite path component per listener. */
export function listenerMetricName(address: string, port: number): string {
  return `${address.replace(/[^A-Za-z0-9]/g, '_')}_${port}`
}
