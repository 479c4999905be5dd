import { performance } from 'node:perf_hooks'

/*
 * The flush boundary as one point for every shard (native/statsd_epoch.h is
 * the reader threads' side). The main thread counts flush intervals in a
 * shared word and bumps it at each take; each reader thread stamps the lane
 * records of a recvmmsg() batch with the interval it read at the batch's
 * start, so a datagram's lines all fall in one interval, whatever shards
 * they go to (as with one thread, and in Etsy); a shard reads no record of
 * a later interval before its take of the one in progress (lanes.ts).
 */

/** A word per cache line: the readers write theirs at every batch. */
const WORD_BYTES = 64
/**
 * How long a take waits at most for a reader still routing a batch of the
 * old interval (a batch takes microseconds; longer only if the reader's
 * thread was preempted). Past it, that batch's lines go in the next
 * interval: counted once, never lost.
 */
const MAX_WAIT_MS = 50
/** How long each nap between looks at a busy reader's word. */
const NAP_MS = 0.02

const sharedWord = (): Int32Array => new Int32Array(new SharedArrayBuffer(WORD_BYTES))

export class IntervalEpochs {
  /** The interval in progress, which the reader threads read. */
  readonly interval = sharedWord()
  /** Each reader thread's batch word: odd while it routes a batch. */
  private readonly batches: Int32Array[] = []
  private readonly nap = new Int32Array(new SharedArrayBuffer(4))

  /** A batch word for a new reader thread (native/statsd_epoch.h). */
  readerWord(): Int32Array {
    const word = sharedWord()
    this.batches.push(word)
    return word
  }

  /**
   * Starts the next interval: returns its number once no reader is still
   * routing a batch it began in the old one, so every record of the old
   * interval has been published.
   */
  advance(): number {
    const next = (Atomics.add(this.interval, 0, 1) + 1) | 0
    let deadline = 0
    for (const word of this.batches) {
      const seen = Atomics.load(word, 0)
      if ((seen & 1) === 0) continue
      deadline ||= performance.now() + MAX_WAIT_MS
      while (Atomics.load(word, 0) === seen && performance.now() < deadline) Atomics.wait(this.nap, 0, 0, NAP_MS)
    }
    return next
  }
}
