import { ownRegion, type Region } from './route'

/*
 * A shard's hand-off ring: shared memory the main thread routes lines into
 * and the shard reads them from in place, so that a hand-off is a small
 * message (where a batch's own transferred ArrayBuffer cost 30-120 µs
 * per message). Batches are laid one after the other and wrap to the
 * start when the end is too near; the shard gives each back (ringUsed)
 * once ingested. When the ring is too full for a batch, the batch gets a
 * Buffer of its own instead, transferred: slower, never lost.
 */

export class ShardRing {
  readonly sab: SharedArrayBuffer
  private readonly whole: Buffer
  private head = 0

  constructor(
    readonly size: number,
    /** Int32 per shard: ring bytes handed over and not yet given back. */
    private readonly used: Int32Array,
    private readonly index: number,
  ) {
    this.sab = new SharedArrayBuffer(size)
    this.whole = Buffer.from(this.sab)
  }

  /** A region of at least `min` bytes at the head of the ring, or one of its own when the ring has no such room. */
  region(min: number): Region {
    const used = Atomics.load(this.used, this.index)
    // Nothing outstanding: start over at the beginning (the shard reads by the offsets it is sent).
    if (used === 0) this.head = 0
    if (used >= this.size) return ownRegion(min)
    const tail = (this.head - used + this.size) % this.size
    if (used === 0 || this.head > tail) {
      if (this.size - this.head >= min) return this.view(this.head, this.size - this.head, 0)
      if (tail >= min) return this.view(0, tail, this.size - this.head)
      return ownRegion(min)
    }
    return tail - this.head >= min ? this.view(this.head, tail - this.head, 0) : ownRegion(min)
  }

  /** A batch in `region` of `length` bytes was handed over. */
  commit(region: Region, length: number): void {
    Atomics.add(this.used, this.index, length + region.skip)
    this.head = region.start + length
  }

  private view(start: number, room: number, skip: number): Region {
    return { bytes: this.whole.subarray(start, start + room), start, skip, shared: true }
  }
}
