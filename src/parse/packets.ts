/**
 * Many datagrams read in one go: their bytes back to back in one Buffer, and
 * where each ends. Each datagram is still one packet (for packets_received
 * and for the parser: a line never runs from one datagram into the next);
 * only the allocation is shared.
 *
 * A batch may be lent: its bytes are in memory the reader reuses once the
 * consumer calls done() (src/listeners/datagram/lent-slabs.ts). Whoever
 * keeps bytes past that must copy them.
 */
export class DatagramBatch {
  constructor(
    /** The datagrams in slab[0, length). */
    readonly slab: Buffer,
    /** ends[i] is the end of datagram i in slab; datagram i starts at ends[i - 1] (or 0). */
    readonly ends: Int32Array,
    /** Datagrams in the batch: ends[0, count). */
    public count = ends.length,
    /** Bytes, like a Buffer packet's length. */
    public length = count > 0 ? ends[count - 1]! : 0,
    /** Gives the bytes back to their lender; null: the batch owns them. */
    private readonly giveBack: (() => void) | null = null,
  ) {}

  /** Whether the bytes are valid only until done(). */
  lent = false

  /**
   * With a unixgram listener's originTags: the sender's PID and UID per
   * datagram (origins[2i], origins[2i + 1]; -1 if the kernel gave none).
   */
  origins: Int32Array | null = null

  /** The consumer has finished with the bytes. */
  done(): void {
    if (!this.lent) return
    this.lent = false
    this.giveBack!()
  }
}

/** What listeners queue for the aggregator: one packet, or a batch of datagrams. */
export type Packet = Buffer | DatagramBatch

/** How many packets `packet` stands for. */
export function packetCount(packet: Packet): number {
  return packet instanceof DatagramBatch ? packet.count : 1
}

/**
 * Calls `fn` with each datagram (or the one stream packet) of `packet`: a
 * view, no copy, except that a lent batch's datagrams are copied, so `fn`
 * may keep them.
 */
export function forEachDatagram(packet: Packet, fn: (datagram: Buffer) => void): void {
  if (!(packet instanceof DatagramBatch)) {
    fn(packet)
    return
  }
  let start = 0
  for (let i = 0; i < packet.count; i++) {
    const end = packet.ends[i]!
    const view = packet.slab.subarray(start, end)
    fn(packet.lent ? Buffer.from(view) : view)
    start = end
  }
}
