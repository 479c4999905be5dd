import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client'
import { EVENT_LOOP_SAMPLE_MS } from '../../admin/http/event-loop-sampling'
import type { NodeCounters } from '../relay-node'
import type { RelayStatus } from './relay-control'

/*
 * The relay's figures in Prometheus text format, set at each scrape from
 * one snapshot: nothing is counted here.
 */

const OUTCOMES: Record<keyof NodeCounters, string> = {
  forwarded: 'forwarded',
  rehashed: 'rehashed',
  held: 'held',
  replayed: 'replayed',
  dropped: 'dropped',
  sendFailed: 'send_failed',
}

export function buildRelayRegistry(current: () => RelayStatus): Registry {
  const registry = new Registry()
  collectDefaultMetrics({ register: registry, eventLoopMonitoringPrecision: EVENT_LOOP_SAMPLE_MS })
  const registers = [registry]
  const counter = (name: string, help: string, labelNames: string[], read: (s: RelayStatus, c: Counter) => void): void => {
    new Counter({ name, help, labelNames, registers, collect() { this.reset(); read(current(), this) } })
  }
  const gauge = (name: string, help: string, labelNames: string[], read: (s: RelayStatus, g: Gauge) => void): void => {
    new Gauge({ name, help, labelNames, registers, collect() { this.reset(); read(current(), this) } })
  }
  counter('statsd_relay_packets_received_total', 'Datagrams or stream chunks read', [], (s, c) => c.inc(s.received.packets))
  counter('statsd_relay_lines_received_total', 'Lines read', [], (s, c) => c.inc(s.received.lines))
  counter('statsd_relay_bytes_received_total', 'Bytes read', [], (s, c) => c.inc(s.received.bytes))
  counter('statsd_relay_oversized_lines_total', 'Lines dropped as too long (for any datagram, or past a stream listener maxLineBytes)', [], (s, c) => c.inc(s.oversizedLines))
  counter('statsd_queue_dropped_packets_total', 'Datagrams dropped because the queue was full', [], (s, c) => c.inc(s.queue.droppedPackets))
  counter(
    'statsd_relay_lines_total',
    'Lines by outcome, under the node their name hashes to (forwarded, rehashed, held, dropped: once per line; replayed: held lines sent later; send_failed: sent then refused by the socket)',
    ['node', 'outcome'],
    (s, c) => {
      for (const n of s.nodes) for (const [field, outcome] of Object.entries(OUTCOMES)) c.inc({ node: n.id, outcome }, n[field as keyof NodeCounters])
    },
  )
  counter('statsd_listener_kernel_dropped_packets_total', 'Datagrams dropped by the kernel, per listener', ['listener'], (s, c) => {
    for (const l of s.listeners) if (l.kernelDrops !== undefined) c.inc({ listener: l.description }, l.kernelDrops)
  })
  gauge('statsd_relay_node_up', '1 while the node is in the ring', ['node'], (s, g) => {
    for (const n of s.nodes) g.set({ node: n.id }, n.up ? 1 : 0)
  })
  gauge('statsd_relay_held_lines', 'Lines held for the node now (policy hold)', ['node'], (s, g) => {
    for (const n of s.nodes) g.set({ node: n.id }, n.heldLines)
  })
  gauge('statsd_relay_held_bytes', 'Bytes held for the node now (policy hold)', ['node'], (s, g) => {
    for (const n of s.nodes) g.set({ node: n.id }, n.heldBytes)
  })
  gauge('statsd_queue_packets', 'Packets waiting to be routed', [], (s, g) => g.set(s.queue.packets))
  gauge('statsd_health_up', '1 while the health check says up', [], (s, g) => g.set(s.health.status === 'up' ? 1 : 0))
  return registry
}
