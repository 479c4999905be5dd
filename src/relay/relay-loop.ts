import { DatagramBatch, type Packet } from '../parse/packets'
import type { PacketQueue } from '../queue/queue'
import type { Logger } from '../log'
import type { Router } from './router'

/** How long one drain may hold the event loop before sockets are read again. */
const DRAIN_SLICE_MS = 5
const PACKETS_BETWEEN_CLOCK_CHECKS = 64
const NEWLINE = 0x0a

/** What the relay has read, since start. */
export interface RelayTotals {
  packets: number
  lines: number
  bytes: number
}

/**
 * The relay's consumer of the listeners' queue: splits each datagram (or
 * stream chunk of whole lines) into lines, routes them, and hands the
 * nodes' batches on after each drain. While a forwarder is congested
 * (TCP) it stops draining, so the queue fills and pauses the stream
 * clients: backpressure from the slowest node to the clients.
 */
export class RelayLoop {
  readonly totals: RelayTotals = { packets: 0, lines: 0, bytes: 0 }
  private scheduled = false
  private stopped = false

  constructor(
    private readonly queue: PacketQueue,
    private readonly router: Router,
    private readonly log: Logger,
  ) {}

  start(): void {
    this.queue.onReadable = () => this.schedule()
    this.schedule()
  }

  /** Drains soon, unless a forwarder is congested: its drain event calls this again. */
  schedule(): void {
    if (this.scheduled || this.stopped || this.queue.length === 0 || this.router.congested) return
    this.scheduled = true
    setImmediate(() => {
      this.scheduled = false
      this.drain(DRAIN_SLICE_MS)
      this.schedule()
    })
  }

  /** Routes everything still queued (at shutdown, once the listeners are closed). */
  finish(): void {
    this.stopped = true
    this.queue.onReadable = null
    this.drain(Infinity, true)
  }

  private drain(budgetMs: number, ignoreCongestion = false): void {
    const deadline = Date.now() + budgetMs
    let taken = 0
    while (ignoreCongestion || !this.router.congested) {
      const packet = this.queue.shift()
      if (packet === undefined) break
      try {
        this.routePacket(packet)
      } catch (err) {
        // Routing is built not to throw; if it ever does, lose one packet, not the relay.
        this.log.error({ err, bytes: packet.length }, 'packet could not be routed')
      }
      if (packet instanceof DatagramBatch) packet.done()
      if (++taken % PACKETS_BETWEEN_CLOCK_CHECKS === 0) {
        this.router.flush()
        if (Date.now() >= deadline) break
      }
    }
    this.router.flush()
  }

  private routePacket(packet: Packet): void {
    this.totals.bytes += packet.length
    if (!(packet instanceof DatagramBatch)) {
      this.totals.packets++
      this.routeLines(packet, 0, packet.length)
      return
    }
    this.totals.packets += packet.count
    let start = 0
    for (let i = 0; i < packet.count; i++) {
      const end = packet.ends[i]!
      this.routeLines(packet.slab, start, end)
      start = end
    }
  }

  /** Each non-empty line of buf[start, end); a line never runs past end (one datagram). */
  private routeLines(buf: Buffer, start: number, end: number): void {
    let lineStart = start
    for (let i = start; i <= end; i++) {
      if (i < end && buf[i] !== NEWLINE) continue
      if (i > lineStart) {
        this.totals.lines++
        this.router.route(buf, lineStart, i)
      }
      lineStart = i + 1
    }
  }
}
