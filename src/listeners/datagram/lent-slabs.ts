import { uncountedMemory } from '../../core/uncounted-memory'
import { DatagramBatch } from '../../parse/packets'

/** Datagrams per recvmmsg() in the addon (VLEN): the most a batch holds. */
export const MAX_BATCH = 64
/*
 * A steady stream of batches keeps two slabs busy, one being parsed while
 * the next fills; the rest are for a backlog. Only slabs ever filled become
 * resident, and freed ones are filled again first.
 */
const SLABS = 32
/** A batch of 64 datagrams of 1 KiB fits; a bigger batch gets a Buffer of its own. */
const SLAB_BYTES = 64 * 1024

/**
 * The slabs one datagram reader (native/statsd_recv.c) copies batches into,
 * lent to the consumer and given back by DatagramBatch.done(): in steady
 * traffic no batch allocates an ArrayBuffer, whose memory V8 counts and
 * marks the whole heap for (src/core/uncounted-memory.ts). A batch nobody
 * gives back (lost in a failure) only leaves one slab fewer to lend; with
 * none left the addon allocates again.
 */
export class LentSlabs {
  /** The slabs back to back, for the addon. */
  readonly memory = Buffer.from(uncountedMemory(SLABS * SLAB_BYTES))
  /** MAX_BATCH end offsets per slab, for the addon. */
  readonly ends = new Int32Array(uncountedMemory(SLABS * MAX_BATCH * 4))
  /** [0]: the slab the addon fills next, -1 if none is free. In shared memory, which never moves. */
  readonly next = new Int32Array(uncountedMemory(4))
  private readonly batches: DatagramBatch[] = []
  /** Free slabs other than next[0], last freed on top. */
  private readonly free = new Int32Array(SLABS)
  private freeCount = 0

  constructor() {
    for (let i = 0; i < SLABS; i++) {
      const slab = this.memory.subarray(i * SLAB_BYTES, (i + 1) * SLAB_BYTES)
      this.batches.push(new DatagramBatch(slab, this.ends.subarray(i * MAX_BATCH, (i + 1) * MAX_BATCH), 0, 0, () => this.giveBack(i)))
    }
    for (let i = SLABS - 1; i > 0; i--) this.free[this.freeCount++] = i
    this.next[0] = 0
  }

  /** The batch of `count` datagrams the addon has just copied into slab `index` (next[0]). */
  take(index: number, count: number): DatagramBatch {
    const batch = this.batches[index]!
    batch.count = count
    batch.length = batch.ends[count - 1]!
    batch.lent = true
    this.next[0] = this.freeCount > 0 ? this.free[--this.freeCount]! : -1
    return batch
  }

  /** The slab given back is filled next: the one most likely still in the CPU's cache. */
  private giveBack(index: number): void {
    if (this.next[0] !== -1) this.free[this.freeCount++] = this.next[0]!
    this.next[0] = index
  }
}
