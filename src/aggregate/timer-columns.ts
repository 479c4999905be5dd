/** One statistic of one timer, as a receiver that needs the flush whole gets it. */
export type TimerStat = [name: string, value: number]

/** A timer and its statistics, in order: the form of FlushData. */
export interface TimerEntry {
  name: string
  stats: TimerStat[]
}

/**
 * The statistics of many timers in flat arrays: for each statistic, which
 * one it is (an index into statNames) and its value. A large flush has
 * millions of statistics; as [name, value] pairs they were most of its
 * garbage. statNames is shared by every timer of a calculator, so a
 * formatter can encode each name once per flush (see GraphiteFormatter).
 */
export class TimerColumns {
  /** Timer names, in order. */
  names: string[] = []
  /** Timer t's statistics are the entries from ends[t - 1] (0 for the first) up to ends[t]. */
  ends: number[] = []
  ids: Int32Array
  values: Float64Array
  /** Entries written. */
  length = 0

  constructor(
    /** Names the ids refer to; may grow (a new histogram), ids never change. */
    readonly statNames: readonly string[],
    capacity = 256,
  ) {
    this.ids = new Int32Array(capacity)
    this.values = new Float64Array(capacity)
  }

  /** No timers. */
  static empty(): TimerColumns {
    return new TimerColumns([], 0)
  }

  /** From the whole form (FlushData's timers), for receivers that take parts. */
  static from(timers: readonly TimerEntry[]): TimerColumns {
    const names: string[] = []
    const ids = new Map<string, number>()
    const out = new TimerColumns(names)
    for (const timer of timers) {
      for (const [stat, value] of timer.stats) {
        let id = ids.get(stat)
        if (id === undefined) {
          id = names.push(stat) - 1
          ids.set(stat, id)
        }
        out.push(id, value)
      }
      out.endTimer(timer.name)
    }
    return out
  }

  get count(): number {
    return this.names.length
  }

  /** Index of the first entry of timer t. */
  start(t: number): number {
    return t === 0 ? 0 : this.ends[t - 1]!
  }

  push(id: number, value: number): void {
    if (this.length === this.ids.length) this.grow()
    this.ids[this.length] = id
    this.values[this.length++] = value
  }

  /** Empties it for reuse, keeping the arrays' capacity. */
  clear(): void {
    this.names = []
    this.ends = []
    this.length = 0
  }

  /** The entries pushed since the last timer belong to `name`. */
  endTimer(name: string): void {
    this.names.push(name)
    this.ends.push(this.length)
  }

  /**
   * Removes the entries from `from` on whose value is not finite (the
   * current timer's, before endTimer), telling `dropped` each one's name.
   */
  dropNonFinite(from: number, dropped: (stat: string) => void): void {
    let kept = from
    for (let i = from; i < this.length; i++) {
      const value = this.values[i]!
      if (!Number.isFinite(value)) {
        dropped(this.statNames[this.ids[i]!]!)
        continue
      }
      this.ids[kept] = this.ids[i]!
      this.values[kept++] = value
    }
    this.length = kept
  }

  /** Timer t's statistics as [name, value] pairs. */
  stats(t: number): TimerStat[] {
    const out: TimerStat[] = []
    for (let i = this.start(t); i < this.ends[t]!; i++) out.push([this.statNames[this.ids[i]!]!, this.values[i]!])
    return out
  }

  /** Every timer in the whole form. */
  entries(): TimerEntry[] {
    return this.names.map((name, t) => ({ name, stats: this.stats(t) }))
  }

  private grow(): void {
    const size = Math.max(256, this.ids.length * 2)
    const ids = new Int32Array(size)
    const values = new Float64Array(size)
    ids.set(this.ids)
    values.set(this.values)
    this.ids = ids
    this.values = values
  }
}
