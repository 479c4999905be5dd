import type { RelayConfig, RelayNodeConfig } from '../config/relay-schema'
import { MAX_UDP_PAYLOAD } from '../core/udp-payload'
import type { Forwarder, ForwarderEvents } from './forwarder'
import { TcpForwarder } from './forward-tcp'
import { UdpForwarder } from './forward-udp'
import { HoldOutbox } from './hold-outbox'
import { LineBatch } from './line-batch'

/** Lines by what became of them, since start. Each received line is counted once in forwarded, rehashed, held or dropped, under the node its name hashes to. */
export interface NodeCounters {
  /** Sent to this node, its home. */
  forwarded: number
  /** Home here, but sent to another node while this one was down (policy "rehash"). */
  rehashed: number
  /** Home here, kept while this node was down (policy "hold"). */
  held: number
  /** Held lines sent once this node came back. */
  replayed: number
  /** Lost: no node up to re-hash to, or the oldest held lines past holdMaxBytes. */
  dropped: number
  /** Sent (as forwarded, re-hashed to here or replayed) in batches the socket then refused: lost. */
  sendFailed: number
}

/** TCP batches: larger writes, fewer syscalls; no datagram limit applies. */
const TCP_BATCH_BYTES = 64 * 1024

/** One aggregating node: its state, its counters, and where its lines go. */
export class RelayNode {
  readonly id: string
  readonly counters: NodeCounters = { forwarded: 0, rehashed: 0, held: 0, replayed: 0, dropped: 0, sendFailed: 0 }
  /** The last health check (or transport) verdict. */
  healthy = true
  /** Why it is down, for the status page; empty when up. */
  reason = ''
  /** In the ring of nodes up (proxy.js's ring); every node starts in it, as in proxy.js. */
  inRing = true
  /** When it last went up or down (Unix ms). */
  since = Date.now()
  readonly forwarder: Forwarder
  /** Lines bound for the node now. */
  readonly batch: LineBatch
  /** Lines held for it (policy "hold"), batched the same way. */
  readonly holdBatch: LineBatch
  readonly outbox: HoldOutbox

  constructor(
    readonly config: RelayNodeConfig,
    relay: RelayConfig,
    events: ForwarderEvents,
  ) {
    this.id = `${config.host}:${config.port}`
    const tcp = relay.forward === 'tcp'
    this.forwarder = tcp
      ? new TcpForwarder(config.host, config.port, relay.tcpHighWaterBytes, events)
      : new UdpForwarder(config.host, config.port, events)
    const batchBytes = tcp ? Math.max(TCP_BATCH_BYTES, relay.maxDatagramBytes) : relay.maxDatagramBytes
    this.batch = new LineBatch(batchBytes, MAX_UDP_PAYLOAD, (datagram, lines) => this.forwarder.send(datagram, lines))
    this.outbox = new HoldOutbox(relay.holdMaxBytes, (lines) => (this.counters.dropped += lines))
    this.holdBatch = new LineBatch(batchBytes, MAX_UDP_PAYLOAD, (datagram, lines) => this.outbox.push(datagram, lines))
  }

  /** In the ring: healthy and able to send. */
  get up(): boolean {
    return this.healthy && this.forwarder.ready
  }
}
