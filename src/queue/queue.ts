import { type Packet, packetCount } from '../parse/packets'
import type { IngestCounters } from '../core/ingest-counters'
import type { LaneSpec } from '../aggregate/shards/lanes'

/** Slots a fresh (or shrunk) ring starts with; always a power of two. */
const INITIAL_CAPACITY = 1024
/**
 * A drained ring larger than this is given back: one burst must not pin a
 * multi-megabyte slot array for the life of the process.
 */
const SHRINK_ABOVE = 64 * 1024

/** Something that feeds the queue and can be told to stop for a while (a stream connection). */
export interface Pausable {
  pause(): void
  resume(): void
}

/**
 * The hand-off between listeners and the aggregator: a bounded FIFO of raw
 * packets. Listeners push and move on at once. When the aggregator falls
 * behind, the two kinds of source are treated differently:
 * - datagrams are dropped (and counted) once a bound is reached: UDP has no
 *   way to slow a client down;
 * - stream data is never dropped. Above the high-water mark (half of either
 *   bound) every registered stream is paused, so the kernel's flow control
 *   slows its client; below the low-water mark (a quarter) they resume.
 *   Chunks already read when the pause starts are still queued, so the
 *   bounds can be overrun by at most one read per open connection.
 *
 * A power-of-two ring of slots, so push and shift are O(1) with no
 * per-packet allocation; it doubles when full (within maxPackets).
 */
export class PacketQueue {
  /**
   * Called synchronously by the push that makes an empty queue non-empty, so
   * an idle consumer can schedule itself. It runs inside a socket event
   * handler: it must not throw, and should only schedule work.
   */
  onReadable: (() => void) | null = null
  /** Sees every packet a listener pushes, before the bound is checked (the repeater's tap). Must only keep a reference. */
  onPush: ((packet: Packet) => void) | null = null
  /**
   * With aggregation threads: lanes a datagram reader thread of listener
   * `source` routes lines into, past this queue, straight to the shards
   * (src/aggregate/shards/lanes.ts); null when its datagrams must come
   * through here. Not offered while onPush must see every packet.
   */
  lanes: ((source: number) => LaneSpec | null) | null = null

  /** Stream sources paused while the queue is above its high-water mark. */
  private readonly pausables = new Set<Pausable>()
  private pressured = false

  private readonly maxBytes: number
  private readonly maxPackets: number
  private readonly highBytes: number
  private readonly highPackets: number
  private readonly lowBytes: number
  private readonly lowPackets: number
  private readonly counters: IngestCounters
  private slots: (Packet | undefined)[]
  /** Which listener each queued packet came from (parallel to slots), for per-listener auth. */
  private sources: Uint16Array
  private mask: number
  private head = 0
  private count = 0
  private byteCount = 0

  constructor(
    /** Its bounds; a datagram reader thread keeps its own queue within the same ones. */
    readonly limits: { readonly maxBytes: number; readonly maxPackets: number },
    counters: IngestCounters,
  ) {
    this.maxBytes = limits.maxBytes
    this.maxPackets = limits.maxPackets
    this.highBytes = limits.maxBytes / 2
    this.highPackets = limits.maxPackets / 2
    this.lowBytes = limits.maxBytes / 4
    this.lowPackets = limits.maxPackets / 4
    this.counters = counters
    this.slots = new Array<Packet | undefined>(INITIAL_CAPACITY).fill(undefined)
    this.sources = new Uint16Array(INITIAL_CAPACITY)
    this.mask = INITIAL_CAPACITY - 1
  }

  /** Packets waiting. */
  get length(): number {
    return this.count
  }

  /** Bytes waiting. */
  get bytes(): number {
    return this.byteCount
  }

  /** Whether stream sources are paused because the queue is above its high-water mark. */
  get paused(): boolean {
    return this.pressured
  }

  /** Registers a stream source; it is paused at once if the queue is above its high-water mark. */
  addPausable(source: Pausable): void {
    this.pausables.add(source)
    if (this.pressured) source.pause()
  }

  removePausable(source: Pausable): void {
    this.pausables.delete(source)
  }

  /** The listener (source id given to push) of the packet the last shift() returned. */
  shiftedSource = 0

  /**
   * Queues `buf` without copying it (the caller must not reuse it). Returns
   * false, and counts the drop, when the queue has no room for it.
   */
  push(buf: Packet, source = 0): boolean {
    const size = buf.length
    if (size === 0) return true
    if (this.onPush !== null) this.onPush(buf)
    if (this.count >= this.maxPackets || this.byteCount + size > this.maxBytes) {
      this.counters.queueDroppedPackets += packetCount(buf)
      this.counters.queueDroppedBytes += size
      return false
    }
    this.append(buf, source)
    return true
  }

  /**
   * Queues stream data, which is never dropped: past the high-water mark the
   * streams are paused instead (see the class comment).
   */
  pushStream(buf: Buffer, source = 0): void {
    if (buf.length > 0) this.append(buf, source)
  }

  private append(buf: Packet, source: number): void {
    const size = buf.length
    if (this.count === this.slots.length) this.resize(this.slots.length * 2)
    this.slots[(this.head + this.count) & this.mask] = buf
    this.sources[(this.head + this.count) & this.mask] = source
    this.count++
    this.byteCount += size
    if (!this.pressured && (this.count > this.highPackets || this.byteCount > this.highBytes)) this.setPressure(true)
    if (this.count === 1 && this.onReadable !== null) this.onReadable()
  }

  /** The oldest packet, or undefined when empty. */
  shift(): Packet | undefined {
    if (this.count === 0) return undefined
    const buf = this.slots[this.head]
    this.shiftedSource = this.sources[this.head]!
    // Release the slot so the packet can be collected once consumed.
    this.slots[this.head] = undefined
    this.head = (this.head + 1) & this.mask
    this.count--
    this.byteCount -= buf!.length
    if (this.pressured && this.count <= this.lowPackets && this.byteCount <= this.lowBytes) this.setPressure(false)
    if (this.count === 0) {
      this.head = 0
      if (this.slots.length > SHRINK_ABOVE) this.resize(INITIAL_CAPACITY)
    }
    return buf
  }

  private setPressure(on: boolean): void {
    this.pressured = on
    if (on) this.counters.streamPauses++
    for (const source of this.pausables) {
      if (on) source.pause()
      else source.resume()
    }
  }

  /** Re-lays the live packets from slot 0 of a ring of `capacity` slots. */
  private resize(capacity: number): void {
    const next = new Array<Packet | undefined>(capacity).fill(undefined)
    const nextSources = new Uint16Array(capacity)
    for (let i = 0; i < this.count; i++) {
      next[i] = this.slots[(this.head + i) & this.mask]
      nextSources[i] = this.sources[(this.head + i) & this.mask]!
    }
    this.slots = next
    this.sources = nextSources
    this.mask = capacity - 1
    this.head = 0
  }
}
