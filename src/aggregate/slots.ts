import type { HistogramBins } from './timer-stats'

/*
 * Per-metric state. A slot is "live" while it sits in its type's table; when a
 * delete* option removes it at a flush it is marked dead so that cached
 * references (KeyEntry) know to look it up again.
 */

export class CounterSlot {
  value = 0
  live = true
  constructor(readonly name: string) {}
}

export class GaugeSlot {
  value = 0
  /** Flushes left before an idle gauge is deleted (only with deleteGauges). */
  ttl = 0
  live = true
  constructor(readonly name: string) {}
}

export class SetSlot {
  readonly members = new Set<string>()
  live = true
  constructor(readonly name: string) {}
}

const INITIAL_TIMER_CAPACITY = 16
/** What a timer holds before its first value of an interval: no memory of its own. */
const NO_SAMPLES = new Float64Array(0)

/**
 * The flush intervals an aggregator's timers have begun. Taking 200,000
 * timers' values one by one at the flush instant would hold the event loop
 * for tens of milliseconds, so a flush only begins a new interval here, and
 * each timer's values are moved aside lazily: by the flush when it reaches
 * the timer, or by the timer's first value of the new interval, whichever
 * comes first. One per aggregator: another's flush must not move these.
 */
export class TimerIntervals {
  current = 0

  /** Begins a new interval for every timer at once; returns the number of the one that ended. */
  begin(): number {
    return this.current++
  }
}

export class TimerSlot {
  /** The interval its values belong to; older ones are taken before anything else happens. */
  private interval: number
  /** The interval it was created in: a timer created after a flush instant is not part of that flush. */
  readonly born: number
  private samples: Float64Array = NO_SAMPLES
  length = 0
  /** Sample-rate-adjusted number of values (Etsy's timer_counters). */
  count = 0
  private takenSamples: Float64Array = NO_SAMPLES
  private takenLength = 0
  /**
   * A double from the start (NaN until a first take): starting as a small
   * integer, the first flush would make V8 migrate every timer object.
   */
  takenCount = NaN
  live = true
  constructor(
    readonly name: string,
    /** Replaced when a reload changes the histogram config. */
    public bins: HistogramBins | null,
    private readonly intervals: TimerIntervals,
  ) {
    this.interval = this.born = intervals.current
  }

  add(value: number, sampleRate: number): void {
    if (this.interval !== this.intervals.current) this.take()
    if (this.length === this.samples.length) {
      const bigger = new Float64Array(Math.max(INITIAL_TIMER_CAPACITY, this.samples.length * 2))
      bigger.set(this.samples)
      this.samples = bigger
    }
    this.samples[this.length++] = value
    this.count += 1 / sampleRate
  }

  /** This interval's values (a view, valid until the next add or take). */
  values(): Float64Array {
    return this.samples.subarray(0, this.length)
  }

  /**
   * Moves the values of an interval that has ended to the taken* fields,
   * without copying, and starts the current one empty: the flush computes
   * the taken values while new ones arrive (flushes never overlap, so one
   * set is enough). Does nothing if they were already moved.
   */
  take(): void {
    if (this.interval === this.intervals.current) return
    this.interval = this.intervals.current
    this.takenSamples = this.samples
    this.takenLength = this.length
    this.takenCount = this.count
    this.samples = NO_SAMPLES
    this.length = 0
    this.count = 0
  }

  /** The taken values (a view, sorted in place by the statistics). */
  taken(): Float64Array {
    return this.takenSamples.subarray(0, this.takenLength)
  }

  /**
   * Once the taken values are computed: a steady timer gets its array back
   * for the next interval, unless new values already needed one.
   */
  release(): void {
    const array = this.takenSamples
    this.takenSamples = NO_SAMPLES
    if (this.samples !== NO_SAMPLES || !this.live || array === NO_SAMPLES) return
    // Give back memory after a burst, but keep the capacity a steady rate needs.
    if (array.length > 4 * INITIAL_TIMER_CAPACITY && this.takenLength < array.length / 4) return
    this.samples = array
  }
}

/** Everything known under one metric name, whatever types it was sent as. */
export class KeyEntry {
  counter: CounterSlot | null = null
  timer: TimerSlot | null = null
  gauge: GaugeSlot | null = null
  set: SetSlot | null = null
  /** Values received since the last flush, whatever their type (for the busiest keys). */
  values = 0
  constructor(readonly name: string) {}

  /** True when no type still holds state under this name. */
  isEmpty(): boolean {
    return !(this.counter?.live || this.timer?.live || this.gauge?.live || this.set?.live)
  }
}
