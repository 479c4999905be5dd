/**
 * Large pieces of memory given back once the flush that used them was
 * delivered or dropped, for the next flushes. The pool keeps as many as the
 * largest of the last few flushes took, so a steady flush reuses all of its
 * pieces and a one-off spike is let go.
 */
export class ReusePool<T> {
  private readonly free: T[] = []
  private readonly demands: number[] = []
  private limit: number

  constructor(
    private readonly make: () => T,
    /** How many recent flushes' needs the pool is sized by. */
    private readonly kept = 4,
    /** Pieces kept whatever the recent flushes needed (see ChunkPool). */
    private readonly floor = 0,
  ) {
    this.limit = floor
  }

  take(): T {
    return this.free.pop() ?? this.make()
  }

  /** A finished flush took `count` pieces. */
  demanded(count: number): void {
    this.demands.push(count)
    if (this.demands.length > this.kept) this.demands.shift()
    this.limit = Math.max(this.floor, ...this.demands)
    if (this.free.length > this.limit) this.free.length = this.limit
  }

  /** Keeps `piece` for reuse, unless the pool is full; whether it was kept. */
  put(piece: T): boolean {
    if (this.free.length >= this.limit) return false
    this.free.push(piece)
    return true
  }

  get size(): number {
    return this.free.length
  }
}
