import type { NameBytes } from './name-bytes'

/** One statistic of one timer, as a receiver that needs the flush whole gets it. */
export type TimerStat = [name: string, value: number]

/** A timer and its statistics, in order: the form of FlushData. */
export interface TimerEntry {
  name: string
  stats: TimerStat[]
  /** The interval's values in ms (for backends that bucket them), and the sample-rate-adjusted count they stand for. */
  samples?: { values: Float64Array; count: number }
  /** It came as a DogStatsD histogram or distribution (`h`, `d`); absent for a timer (`ms`). */
  histogram?: true
}

/**
 * The statistics of many timers in flat arrays: for each statistic, which
 * one it is (an index into statNames) and its value. A large flush has
 * millions of statistics; as [name, value] pairs they were most of its
 * garbage. statNames is shared by every timer of a calculator, so a
 * formatter can encode each name once per flush (see GraphiteFormatter).
 */
export class TimerColumns {
  private nameList: string[] = []
  /** The timers' names as bytes, when they came so (a shard's part): `names` then makes strings of them only if asked. */
  nameBytes: NameBytes | null = null
  private decoded: string[] | null = null
  /** Whether timer t came as a DogStatsD histogram or distribution (`h`, `d`), for backends that render histograms. */
  histograms: boolean[] = []
  /** Timer t's statistics are the entries from ends[t - 1] (0 for the first) up to ends[t]. */
  ends: number[] = []
  ids: Int32Array
  values: Float64Array
  /** Entries written. */
  length = 0
  /**
   * Whether each timer's raw values of the interval (ms) are kept too, so
   * that a backend can bucket them (remote write and OTLP histograms):
   * timer t's are samples from sampleEnds[t - 1] (0 for the first) up to
   * sampleEnds[t], standing for sampleCounts[t] events (the
   * sample-rate-adjusted count). Off unless such a backend is configured.
   */
  keepSamples = false
  samples = new Float64Array(0)
  sampleEnds: number[] = []
  sampleCounts: number[] = []
  private sampleLength = 0
  private pendingCount = 0

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
    out.keepSamples = timers.some((t) => t.samples !== undefined)
    for (const timer of timers) {
      for (const [stat, value] of timer.stats) {
        let id = ids.get(stat)
        if (id === undefined) {
          id = names.push(stat) - 1
          ids.set(stat, id)
        }
        out.push(id, value)
      }
      if (timer.samples !== undefined) out.pushSamples(timer.samples.values, timer.samples.count)
      out.endTimer(timer.name, timer.histogram === true)
    }
    return out
  }

  /** Timer names, in order. */
  get names(): string[] {
    if (this.nameBytes === null) return this.nameList
    return (this.decoded ??= this.nameBytes.all())
  }

  set names(names: string[]) {
    this.nameList = names
    this.nameBytes = null
    this.decoded = null
  }

  get count(): number {
    return this.nameBytes !== null ? this.nameBytes.count : this.nameList.length
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
    this.histograms = []
    this.ends = []
    this.length = 0
    this.sampleEnds = []
    this.sampleCounts = []
    this.sampleLength = 0
    this.pendingCount = 0
  }

  /** The entries pushed since the last timer belong to `name`. */
  endTimer(name: string, histogram = false): void {
    this.names.push(name)
    this.histograms.push(histogram)
    this.ends.push(this.length)
    if (!this.keepSamples) return
    this.sampleEnds.push(this.sampleLength)
    this.sampleCounts.push(this.pendingCount)
    this.pendingCount = 0
  }

  /** The current timer's raw values (copied), standing for `count` events. */
  pushSamples(values: ArrayLike<number>, count: number): void {
    const need = this.sampleLength + values.length
    if (need > this.samples.length) {
      const grown = new Float64Array(Math.max(need, this.samples.length * 2, 1024))
      grown.set(this.samples.subarray(0, this.sampleLength))
      this.samples = grown
    }
    this.samples.set(values, this.sampleLength)
    this.sampleLength = need
    this.pendingCount = count
  }

  /** Timer t's raw values (a view, valid until the columns are reused); none unless keepSamples. */
  samplesOf(t: number): Float64Array {
    if (t >= this.sampleEnds.length) return this.samples.subarray(0, 0)
    return this.samples.subarray(t === 0 ? 0 : this.sampleEnds[t - 1]!, this.sampleEnds[t]!)
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

  /** Every timer in the whole form; with their raw values only when asked (they can be many). */
  entries(withSamples = false): TimerEntry[] {
    return this.names.map((name, t) => {
      const entry: TimerEntry = { name, stats: this.stats(t) }
      if (this.histograms[t] === true) entry.histogram = true
      if (withSamples && this.keepSamples) entry.samples = { values: this.samplesOf(t).slice(), count: this.sampleCounts[t]! }
      return entry
    })
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
