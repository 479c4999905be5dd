import type { KeyEntry } from './slots'

/*
 * Every gauge in columns by index, in the order the gauges were created
 * (Etsy's flush order), as CounterTable keeps the counters. An object per
 * gauge (56 bytes, 16 more for its boxed double, and an entry in a Map by
 * name) cost about 110 bytes of heap, which V8 lets grow by half again;
 * here a gauge costs a slot in an array and 16 bytes of Float64Arrays.
 *
 * A gauge is live at index i while its key's `gauge` is i. Deleting one
 * only sets that to -1; the columns are compacted at the next take.
 */

const INITIAL_CAPACITY = 64

export class GaugeTable {
  private entries: KeyEntry[] = []
  /** Values by index; replaced when it grows, so read it through the table. */
  values = new Float64Array(INITIAL_CAPACITY)
  /** Flushes left before an idle gauge is deleted (only with deleteGauges); Infinity: never. */
  ttls = new Float64Array(INITIAL_CAPACITY)
  private length = 0
  private deleted = 0

  /** Live gauges. */
  get size(): number {
    return this.length - this.deleted
  }

  /** Creates `entry`'s gauge with `value`; returns its index. */
  add(entry: KeyEntry, value: number): number {
    if (this.length === this.values.length) this.grow()
    this.entries.push(entry)
    this.values[this.length] = value
    this.ttls[this.length] = 0
    entry.gauge = this.length
    return this.length++
  }

  private grow(): void {
    const values = new Float64Array(this.values.length * 2)
    const ttls = new Float64Array(this.values.length * 2)
    values.set(this.values)
    ttls.set(this.ttls)
    this.values = values
    this.ttls = ttls
  }

  /** Deletes `entry`'s gauge, if it has one. */
  remove(entry: KeyEntry): void {
    if (entry.gauge < 0) return
    entry.gauge = -1
    this.deleted++
  }

  /** Every live gauge's key and value, in flush order. */
  *live(): Generator<[KeyEntry, number]> {
    for (let i = 0; i < this.length; i++) {
      const entry = this.entries[i]!
      if (entry.gauge === i) yield [entry, this.values[i]!]
    }
  }

  /** Gives every live gauge a lease of `ttl` flushes, but those that never expire. */
  renewLeases(ttl: number): void {
    for (let i = 0; i < this.length; i++) if (this.ttls[i] !== Infinity) this.ttls[i] = ttl
  }

  /**
   * Appends every live gauge's name and value for a flush; with `expire`,
   * counts one flush off each lease and deletes the gauges whose lease ran
   * out. Returns whether any was deleted.
   */
  take(names: string[], values: number[], expire: boolean): boolean {
    let expired = false
    for (let i = 0; i < this.length; i++) {
      const entry = this.entries[i]!
      if (entry.gauge !== i) continue
      names.push(entry.name)
      values.push(this.values[i]!)
      if (expire && --this.ttls[i]! < 1) {
        this.remove(entry)
        expired = true
      }
    }
    if (this.deleted > 0) this.compact()
    return expired
  }

  /** Drops deleted gauges, keeping the order of the others. */
  private compact(): void {
    let kept = 0
    for (let i = 0; i < this.length; i++) {
      const entry = this.entries[i]!
      if (entry.gauge !== i) continue
      this.entries[kept] = entry
      this.values[kept] = this.values[i]!
      this.ttls[kept] = this.ttls[i]!
      entry.gauge = kept++
    }
    this.entries.length = kept
    this.length = kept
    this.deleted = 0
  }
}
