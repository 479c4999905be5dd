import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client'
import type { WriteGate } from '../auth/write-gate'
import { METRIC_TYPES, type StatusSnapshot } from '../../core/server-control'
import { EVENT_LOOP_SAMPLE_MS } from './event-loop-sampling'

/*
 * The server's own figures in Prometheus text format. Nothing is counted
 * here: at each scrape the metrics are set from one ServerControl snapshot,
 * so a scrape costs the same whatever the traffic.
 */

/** FlushData.selfMetrics names (summed since start) that have a Prometheus name of their own. */
const SELF_METRICS: Record<string, { name: string; help: string }> = {
  'queue.dropped_packets': { name: 'statsd_queue_dropped_packets_total', help: 'Packets dropped because the queue was full' },
  'queue.dropped_bytes': { name: 'statsd_queue_dropped_bytes_total', help: 'Bytes dropped because the queue was full' },
  'udp.kernel_dropped_packets': {
    name: 'statsd_kernel_dropped_packets_total',
    help: 'Datagrams the kernel dropped before they were read',
  },
  'stream.refused_connections': {
    name: 'statsd_stream_connections_refused_total',
    help: 'Stream connections refused (too many clients)',
  },
  'stream.tls_handshake_failures': {
    name: 'statsd_stream_tls_handshake_failures_total',
    help: 'TLS clients that failed their handshake or did not complete it in time',
  },
  'stream.idle_timeouts': { name: 'statsd_stream_connections_timed_out_total', help: 'Stream clients cut off for idling' },
  'auth.failures': { name: 'statsd_auth_failures_total', help: 'Lines refused for a missing or bad token' },
}

type Snapshot = () => StatusSnapshot

export function buildRegistry(current: Snapshot): Registry {
  const registry = new Registry()
  collectDefaultMetrics({ register: registry, eventLoopMonitoringPrecision: EVENT_LOOP_SAMPLE_MS })
  const registers = [registry]

  /** A counter whose value is a running total read from the snapshot. */
  const total = (name: string, help: string, labelNames: string[], read: (s: StatusSnapshot, c: Counter) => void): void => {
    new Counter({
      name, help, labelNames, registers,
      collect() {
        this.reset()
        read(current(), this)
      },
    })
  }
  const gauge = (name: string, help: string, labelNames: string[], read: (s: StatusSnapshot, g: Gauge) => void): void => {
    new Gauge({ name, help, labelNames, registers, collect() { this.reset(); read(current(), this) } })
  }

  total('statsd_packets_received_total', 'Packets (datagrams or stream chunks) processed', [], (s, c) => c.inc(s.aggregator.packets))
  total('statsd_lines_received_total', 'Metric lines processed (Etsy metrics_received)', [], (s, c) => c.inc(s.aggregator.lines))
  total('statsd_bytes_received_total', 'Bytes of packets processed', [], (s, c) => c.inc(s.aggregator.bytes))
  total('statsd_bad_lines_total', 'Lines dropped as malformed, by reason', ['reason'], (s, c) => {
    for (const [reason, n] of Object.entries(s.aggregator.badLinesByReason)) c.inc({ reason }, n)
  })
  for (const [key, { name, help }] of Object.entries(SELF_METRICS)) {
    total(name, help, [], (s, c) => c.inc(s.selfTotals[key] ?? 0))
  }
  total('statsd_self_metrics_total', 'Other FlushData.selfMetrics, summed since start', ['name'], (s, c) => {
    for (const [name, n] of Object.entries(s.selfTotals)) if (!(name in SELF_METRICS)) c.inc({ name }, n)
  })

  const perListener = (field: 'packets' | 'bytes' | 'lines' | 'kernelDrops' | 'authFailures' | 'connectionsRefused' | 'connectionsTimedOut') =>
    (s: StatusSnapshot, c: Counter): void => {
      for (const l of s.listeners) if (l[field] !== undefined) c.inc({ listener: l.description }, l[field])
    }
  total('statsd_listener_packets_total', 'Packets read, per listener', ['listener'], perListener('packets'))
  total('statsd_listener_bytes_total', 'Bytes read, per listener', ['listener'], perListener('bytes'))
  total('statsd_listener_lines_total', 'Lines read, per listener', ['listener'], perListener('lines'))
  total('statsd_listener_kernel_dropped_packets_total', 'Datagrams dropped by the kernel, per listener', ['listener'], perListener('kernelDrops'))
  total('statsd_listener_auth_failures_total', 'Lines refused for a bad token, per listener', ['listener'], perListener('authFailures'))
  total('statsd_listener_connections_refused_total', 'Stream connections refused, per listener', ['listener'], perListener('connectionsRefused'))
  total('statsd_listener_connections_timed_out_total', 'Stream clients cut off, per listener', ['listener'], perListener('connectionsTimedOut'))
  gauge('statsd_listener_connections_open', 'Stream connections open, per listener', ['listener'], (s, g) => {
    for (const l of s.listeners) if (l.connectionsOpen !== undefined) g.set({ listener: l.description }, l.connectionsOpen)
  })

  gauge('statsd_queue_packets', 'Packets waiting for the aggregator', [], (s, g) => g.set(s.queue.packets))
  gauge('statsd_queue_bytes', 'Bytes waiting for the aggregator', [], (s, g) => g.set(s.queue.bytes))
  gauge('statsd_keys', 'Metric keys held, per type', ['type'], (s, g) => {
    for (const type of METRIC_TYPES) g.set({ type }, s.aggregator.keys[type])
  })
  gauge('statsd_health_up', '1 while the health check says up', [], (s, g) => g.set(s.health.status === 'up' ? 1 : 0))
  gauge('statsd_ready', '1 while the readiness check passes', [], (s, g) => g.set(s.ready.ready ? 1 : 0))
  gauge('statsd_flush_lag_seconds', 'How late the last flush ran after its scheduled time', [], (s, g) => {
    const last = s.flushes[s.flushes.length - 1]
    g.set(last === undefined ? 0 : last.lagMs / 1000)
  })

  let observedUpTo = 0
  new Histogram({
    name: 'statsd_flush_duration_seconds',
    help: 'Time to compute a flush',
    buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers,
    collect() {
      for (const f of current().flushes) {
        if (f.at <= observedUpTo) continue
        this.observe(f.durationMs / 1000)
        observedUpTo = f.at
      }
    },
  })

  const backend = (field: 'flushesSent' | 'flushesFailed' | 'flushesRetried' | 'flushesResentInPart' | 'flushesDropped') => (s: StatusSnapshot, c: Counter): void => {
    for (const b of s.backends) c.inc({ backend: b.name, target: b.target }, b[field])
  }
  const labels = ['backend', 'target']
  total('statsd_backend_flushes_sent_total', 'Flushes delivered, per backend', labels, backend('flushesSent'))
  total('statsd_backend_flushes_failed_total', 'Delivery attempts that failed, per backend', labels, backend('flushesFailed'))
  total('statsd_backend_flushes_retried_total', 'Flushes kept to be sent again, per backend', labels, backend('flushesRetried'))
  total(
    'statsd_backend_flushes_resent_in_part_total',
    'Attempts reset at their deadline after the receiver acknowledged part of the flush, which may arrive twice, per backend',
    labels,
    backend('flushesResentInPart'),
  )
  total('statsd_backend_flushes_dropped_total', 'Flushes given up on, per backend', labels, backend('flushesDropped'))
  gauge('statsd_backend_undelivered_bytes', 'Bytes held for delivery, per backend', labels, (s, g) => {
    for (const b of s.backends) g.set({ backend: b.name, target: b.target }, b.undeliveredBytes)
  })
  gauge('statsd_backend_last_success_timestamp_seconds', 'Unix time of the last delivery, per backend', labels, (s, g) => {
    for (const b of s.backends) g.set({ backend: b.name, target: b.target }, b.lastSuccess / 1000)
  })
  return registry
}

/** The admin writes the gate refused, by reason (the server's and the relay's registries). */
export function withRefusals(registry: Registry, gate: WriteGate | undefined): Registry {
  if (gate !== undefined) {
    new Counter({
      name: 'statsd_admin_writes_refused_total',
      help: 'Admin writes (HTTP and console) refused: missing or wrong token, rate-limited source, writes closed',
      labelNames: ['reason'],
      registers: [registry],
      collect() {
        this.reset()
        for (const [reason, n] of Object.entries(gate.refusals)) this.inc({ reason }, n)
      },
    })
  }
  return registry
}
