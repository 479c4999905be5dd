/**
 * Many datagrams read in one go: their bytes back to back in one Buffer, and
 * where each ends. Each datagram is still one packet (for packets_received
 * and for the parser: a line never runs from one datagram into the next);
 * only the allocation is shared.
 */
export class DatagramBatch {
  constructor(
    readonly slab: Buffer,
    /** ends[i] is the end of datagram i in slab; datagram i starts at ends[i - 1] (or 0). */
    readonly ends: Int32Array,
  ) {}

  /** Bytes, like a Buffer packet's length. */
  get length(): number {
    return this.slab.length
  }

  /** Datagrams in the batch. */
  get count(): number {
    return this.ends.length
  }
}

/** What listeners queue for the aggregator: one packet, or a batch of datagrams. */
export type Packet = Buffer | DatagramBatch

/** How many packets `packet` stands for. */
export function packetCount(packet: Packet): number {
  return packet instanceof DatagramBatch ? packet.count : 1
}

/** Calls `fn` with each datagram (or the one stream packet) of `packet`, as a view: no copy. */
export function forEachDatagram(packet: Packet, fn: (datagram: Buffer) => void): void {
  if (!(packet instanceof DatagramBatch)) {
    fn(packet)
    return
  }
  let start = 0
  for (const end of packet.ends) {
    fn(packet.slab.subarray(start, end))
    start = end
  }
}
