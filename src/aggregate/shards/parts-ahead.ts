/*
 * How far a shard's thread may run ahead of the main thread with a flush's
 * parts. Computing a part takes a shard far less time than the main thread
 * takes to hand it to the backends, so a shard posted its whole part of a
 * flush at once: at 300k series some 28 MB of new columns and names,
 * allocated by the shard's thread (its malloc arena) and alive until the
 * main thread had handed them on. Now a shard posts a part only while
 * fewer than PARTS_AHEAD of its parts wait on the main thread: one Int32
 * per shard in shared memory, raised by the shard as it posts a part,
 * lowered by the main thread as it takes one (gather-shards.ts).
 *
 * It never stalls a flush: a shard waits at most WAIT_MS for the main
 * thread (which may have given up on a flush and take no more of its
 * parts), and starts each flush's count at 0. (A pending Atomics.waitAsync
 * does not keep a thread's event loop alive; a shard's port does.)
 */

export const PARTS_AHEAD = 8
const WAIT_MS = 1000

/** Atomics.waitAsync (Node 16 on; not in TypeScript's ES2022 library). */
const waitAsync = (Atomics as unknown as {
  waitAsync(array: Int32Array, index: number, value: number, timeoutMs: number): { async: false; value: string } | { async: true; value: Promise<string> }
}).waitAsync

/** A shard's side: waits for room before each part it posts. */
export class PartsAhead {
  constructor(
    private readonly counts: Int32Array,
    private readonly shard: number,
  ) {}

  /** A new flush: parts of an earlier one the main thread never took no longer count. */
  restart(): void {
    Atomics.store(this.counts, this.shard, 0)
  }

  /** Resolves once the main thread has room for one more part, or after WAIT_MS. */
  async room(): Promise<void> {
    for (;;) {
      const waiting = Atomics.load(this.counts, this.shard)
      if (waiting < PARTS_AHEAD) return
      const wait = waitAsync(this.counts, this.shard, waiting, WAIT_MS)
      if (wait.async && (await wait.value) === 'timed-out') return
    }
  }

  /** A part is posted. */
  posted(): void {
    Atomics.add(this.counts, this.shard, 1)
  }
}

/** The main thread's side: it took one of `shard`'s parts. */
export function partTaken(counts: Int32Array, shard: number): void {
  Atomics.sub(counts, shard, 1)
  Atomics.notify(counts, shard)
}
