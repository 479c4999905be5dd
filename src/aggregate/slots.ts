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

export class TimerSlot {
  private samples = new Float64Array(INITIAL_TIMER_CAPACITY)
  length = 0
  /** Sample-rate-adjusted number of values (Etsy's timer_counters). */
  count = 0
  live = true
  constructor(
    readonly name: string,
    /** Replaced when a reload changes the histogram config. */
    public bins: HistogramBins | null,
  ) {}

  add(value: number, sampleRate: number): void {
    if (this.length === this.samples.length) {
      const bigger = new Float64Array(this.samples.length * 2)
      bigger.set(this.samples)
      this.samples = bigger
    }
    this.samples[this.length++] = value
    this.count += 1 / sampleRate
  }

  /** This interval's values (a view, valid until the next add or reset). */
  values(): Float64Array {
    return this.samples.subarray(0, this.length)
  }

  reset(): void {
    // Give back memory after a burst, but keep the capacity a steady rate needs.
    if (this.samples.length > 4 * INITIAL_TIMER_CAPACITY && this.length < this.samples.length / 4) {
      this.samples = new Float64Array(Math.max(INITIAL_TIMER_CAPACITY, this.length * 2))
    }
    this.length = 0
    this.count = 0
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
