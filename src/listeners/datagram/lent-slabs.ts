import { uncountedMemory } from '../../core/uncounted-memory'
import { DatagramBatch } from '../../parse/packets'

/** Bytes per slab: any UDP datagram (65507 bytes at most) fits in one. */
export const SLAB_BYTES = 64 * 1024
/** Datagrams per slab at most: a slab of tiny datagrams is handed over with this many. */
export const ENDS_PER_SLAB = 1024
const MIN_SLABS = 4
const MAX_SLABS = 16 * 1024

/** How many slabs a reader gets for a queue of `maxBytes`: its bound in bytes. */
export function slabsFor(maxBytes: number): number {
  return Math.min(MAX_SLABS, Math.max(MIN_SLABS, Math.floor(maxBytes / SLAB_BYTES)))
}

/**
 * The slabs one reader thread (native/statsd_reader.c) copies datagrams
 * into, lent to the consumer and given back by DatagramBatch.done(). Shared
 * memory: no ArrayBuffer per batch, which V8 would count and mark the whole
 * heap for (src/core/uncounted-memory.ts), and memory the thread may write
 * while JavaScript runs. It is reserved whole but only the slabs ever filled
 * become resident; the thread fills the last one given back first, and
 * gives the memory of idle ones back to the kernel.
 */
export class LentSlabs {
  /** The slabs back to back, for the addon. */
  readonly memory: Buffer
  /** ENDS_PER_SLAB end offsets per slab, for the addon. */
  readonly ends: Int32Array
  /** With origins: (pid, uid) per end offset, which the addon writes (SO_PASSCRED); null without. */
  readonly origins: Int32Array | null
  /** Told of each slab given back (the addon's giveBack). */
  onGiveBack: (index: number) => void = () => {}
  private readonly batches: (DatagramBatch | undefined)[]

  constructor(
    readonly count: number,
    origins = false,
  ) {
    this.memory = Buffer.from(uncountedMemory(count * SLAB_BYTES))
    this.ends = new Int32Array(uncountedMemory(count * ENDS_PER_SLAB * 4))
    this.origins = origins ? new Int32Array(uncountedMemory(count * ENDS_PER_SLAB * 8)) : null
    this.batches = new Array<DatagramBatch | undefined>(count).fill(undefined)
  }

  /** The batch of `count` datagrams the addon has handed over in slab `index`. */
  take(index: number, count: number): DatagramBatch {
    const batch = (this.batches[index] ??= new DatagramBatch(
      this.memory.subarray(index * SLAB_BYTES, (index + 1) * SLAB_BYTES),
      this.ends.subarray(index * ENDS_PER_SLAB, (index + 1) * ENDS_PER_SLAB),
      0,
      0,
      () => this.onGiveBack(index),
    ))
    if (this.origins !== null) batch.origins = this.origins.subarray(index * ENDS_PER_SLAB * 2, (index + 1) * ENDS_PER_SLAB * 2)
    batch.count = count
    batch.length = batch.ends[count - 1]!
    batch.lent = true
    return batch
  }
}
