import type { IngestCounters } from './counters'

/** Slots a fresh (or shrunk) ring starts with; always a power of two. */
const INITIAL_CAPACITY = 1024
/**
 * A drained ring larger than this is given back: one burst must not pin a
 * multi-megabyte slot array for the life of the process.
 */
const SHRINK_ABOVE = 64 * 1024

/**
 * The hand-off between listeners and the aggregator: a bounded FIFO of raw
 * packets. Listeners push and move on at once; when the aggregator falls
 * behind, new packets are dropped (and counted) instead of growing memory
 * without limit or slowing the clients down.
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

  private readonly maxBytes: number
  private readonly maxPackets: number
  private readonly counters: IngestCounters
  private slots: (Buffer | undefined)[]
  /** Which listener each queued packet came from (parallel to slots), for per-listener auth. */
  private sources: Uint16Array
  private mask: number
  private head = 0
  private count = 0
  private byteCount = 0

  constructor(limits: { maxBytes: number; maxPackets: number }, counters: IngestCounters) {
    this.maxBytes = limits.maxBytes
    this.maxPackets = limits.maxPackets
    this.counters = counters
    this.slots = new Array<Buffer | undefined>(INITIAL_CAPACITY).fill(undefined)
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

  /** The listener (source id given to push) of the packet the last shift() returned. */
  shiftedSource = 0

  /**
   * Queues `buf` without copying it (the caller must not reuse it). Returns
   * false, and counts the drop, when the queue has no room for it.
   */
  push(buf: Buffer, source = 0): boolean {
    const size = buf.length
    if (size === 0) return true
    if (this.count >= this.maxPackets || this.byteCount + size > this.maxBytes) {
      this.counters.queueDroppedPackets++
      this.counters.queueDroppedBytes += size
      return false
    }
    if (this.count === this.slots.length) this.resize(this.slots.length * 2)
    this.slots[(this.head + this.count) & this.mask] = buf
    this.sources[(this.head + this.count) & this.mask] = source
    this.count++
    this.byteCount += size
    if (this.count === 1 && this.onReadable !== null) this.onReadable()
    return true
  }

  /** The oldest packet, or undefined when empty. */
  shift(): Buffer | undefined {
    if (this.count === 0) return undefined
    const buf = this.slots[this.head]
    this.shiftedSource = this.sources[this.head]!
    // Release the slot so the packet can be collected once consumed.
    this.slots[this.head] = undefined
    this.head = (this.head + 1) & this.mask
    this.count--
    this.byteCount -= buf!.length
    if (this.count === 0) {
      this.head = 0
      if (this.slots.length > SHRINK_ABOVE) this.resize(INITIAL_CAPACITY)
    }
    return buf
  }

  /** Re-lays the live packets from slot 0 of a ring of `capacity` slots. */
  private resize(capacity: number): void {
    const next = new Array<Buffer | undefined>(capacity).fill(undefined)
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
