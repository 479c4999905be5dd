import { uncountedMemory } from '../core/uncounted-memory'

/**
 * The gauges' or the sets' names and values at a flush instant, reused
 * from one flush to the next (the aggregator makes new ones only while
 * the flush before is still being read). Arrays made anew for every flush,
 * of 100k gauges, grew by push through several copies 128 KB and larger:
 * V8 puts those in its large-object space, which only a whole-heap
 * collection frees, so each flush left megabytes there to be collected
 * late. The values are in memory outside V8's external-memory figure
 * (uncountedMemory), which would otherwise bring whole-heap collections on.
 */
export class TakenColumn {
  private readonly names: string[] = []
  private values = new Float64Array(uncountedMemory(0))
  length = 0

  /** Empty, for a new flush: the room is kept. */
  clear(): void {
    this.length = 0
  }

  push(name: string, value: number): void {
    if (this.length === this.values.length) this.grow()
    this.names[this.length] = name
    this.values[this.length++] = value
  }

  /** Lets go of the names past the end (a longer flush's, of keys since deleted). */
  trim(): void {
    if (this.names.length > this.length) this.names.length = this.length
  }

  name(i: number): string {
    return this.names[i]!
  }

  value(i: number): number {
    return this.values[i]!
  }

  private grow(): void {
    const values = new Float64Array(uncountedMemory(8 * Math.max(64, 2 * this.values.length)))
    values.set(this.values)
    this.values = values
  }
}
