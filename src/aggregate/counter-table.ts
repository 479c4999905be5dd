import type { CounterColumn } from '../parse/native-parser'
import type { KeyEntry } from './slots'

/*
 * Every counter in two columns: its key and its value, by index, in the
 * order the counters were created (Etsy's flush order). An object per
 * counter (48 bytes, plus 16 for its boxed double, plus an entry in a Map
 * by name) was a third of the heap at 100k keys; here a counter costs a
 * slot in an array and 8 bytes of a Float64Array, and a flush takes every
 * value with one copy instead of an object per counter.
 *
 * A counter is live at index i while its key's `counter` is i. Deleting one
 * only sets that to -1; the columns are compacted at the next take, when
 * no flush is reading them.
 *
 * The native parser adds to `values` by index itself (CounterColumn), for
 * keys it was told the index of: `layout` tells it when those have moved.
 */

const INITIAL_CAPACITY = 64

/** One flush's counters: keys and values by index, below `count`. */
export interface TakenCounters {
  /** Read only below `count`; counters created after the take are appended beyond it. */
  readonly entries: readonly KeyEntry[]
  readonly values: Float64Array
  readonly count: number
}

export class CounterTable implements CounterColumn<KeyEntry> {
  private entries: KeyEntry[] = []
  /** Values by index; replaced when it grows, so read it through the table. */
  values = new Float64Array(INITIAL_CAPACITY)
  private length = 0
  private deleted = 0
  /** The copy a take hands out, reused: flushes never overlap, so the last one is done with it. */
  private taken = new Float64Array(0)
  /** Changes whenever an index stops being its key's: a deletion or a compaction. */
  layout = 0

  /** Live counters. */
  get size(): number {
    return this.length - this.deleted
  }

  /** Creates `entry`'s counter at 0; returns its index. */
  add(entry: KeyEntry): number {
    if (this.length === this.values.length) this.grow()
    this.entries.push(entry)
    this.values[this.length] = 0
    entry.counter = this.length
    return this.length++
  }

  private grow(): void {
    const bigger = new Float64Array(this.values.length * 2)
    bigger.set(this.values)
    this.values = bigger
  }

  row(entry: KeyEntry): number {
    return entry.counter
  }

  /** Lines the native parser added to `entry`'s counter itself count as its values (for the busiest keys). */
  addHits(entry: KeyEntry, count: number): void {
    entry.values += count
  }

  /** Deletes `entry`'s counter, if it has one. */
  remove(entry: KeyEntry): void {
    if (entry.counter < 0) return
    entry.counter = -1
    this.deleted++
    this.layout++
  }

  /** Every live counter's key and value, in flush order. */
  *live(): Generator<[KeyEntry, number]> {
    for (let i = 0; i < this.length; i++) {
      const entry = this.entries[i]!
      if (entry.counter === i) yield [entry, this.values[i]!]
    }
  }

  /**
   * Takes every live counter's value for a flush; then deletes those from
   * index `keep` on if `deleteRest`, and sets the others to 0.
   */
  take(keep: number, deleteRest: boolean): TakenCounters {
    if (this.deleted > 0) this.compact()
    const count = this.length
    if (this.taken.length < count) this.taken = new Float64Array(this.values.length)
    this.taken.set(this.values.subarray(0, count))
    const taken = { entries: this.entries, values: this.taken, count }
    if (deleteRest && count > keep) {
      for (let i = keep; i < count; i++) this.entries[i]!.counter = -1
      this.deleted += count - keep
      // A new array: the flush reads the old one.
      this.compact()
    }
    this.values.fill(0, 0, this.length)
    return taken
  }

  /** Drops deleted counters, keeping the order of the others; a new entries array (a flush may read the old one). */
  private compact(): void {
    const entries: KeyEntry[] = []
    for (let i = 0; i < this.length; i++) {
      const entry = this.entries[i]!
      if (entry.counter !== i) continue
      this.values[entries.length] = this.values[i]!
      entry.counter = entries.length
      entries.push(entry)
    }
    this.entries = entries
    this.length = entries.length
    this.deleted = 0
    this.layout++
  }
}
