import { uncountedMemory } from '../core/uncounted-memory'
import type { HistogramBins } from './timer-stats'

/*
 * Per-metric state (counters and gauges are in tables of columns instead). A slot is
 * "live" while it sits in its type's table; when a delete* option removes it
 * at a flush it is marked dead so that cached references (KeyEntry) know to
 * look it up again.
 */

export class SetSlot {
  readonly members = new Set<string>()
  live = true
  constructor(readonly name: string) {}
}

/** Room for a timer's first values of an interval, when its last interval had none. */
const INITIAL_TIMER_CAPACITY = 8
const NO_VALUES: Float64Array<ArrayBufferLike> = new Float64Array(0)
/** The smallest arena an interval starts with (values). */
const MIN_ARENA_VALUES = 4096

/**
 * The values of every timer in one flush interval, back to back in one
 * Float64Array. A typed array per timer cost about 400 bytes of objects and
 * allocator overhead on top of its values, and garbage for the collector at
 * every flush; here each timer holds a region (offset, length, capacity) of
 * its interval's arena. A timer that outgrows its region moves to a bigger
 * one at the arena's end; the old one is left unused until the arena is.
 */
class SampleArena {
  data: Float64Array<ArrayBufferLike> = NO_VALUES
  used = 0
  /** Timers whose values (current or taken) are still in this arena. */
  holders = 0

  /** Allocates nothing until the first value: `capacity` is what to start with then. */
  constructor(private readonly capacity: number) {}

  /** Reserves `n` values; returns where they start. May replace `data` (its contents are kept). */
  reserve(n: number): number {
    if (this.used + n > this.data.length) {
      const bigger = values(Math.max(MIN_ARENA_VALUES, this.capacity, this.data.length * 2, this.used + n))
      bigger.set(this.data.subarray(0, this.used))
      this.data = bigger
    }
    const start = this.used
    this.used += n
    return start
  }
}

/** Memory for `n` values, kept out of V8's external-memory figure (see uncountedMemory). */
function values(n: number): Float64Array<ArrayBufferLike> {
  return new Float64Array(uncountedMemory(n * Float64Array.BYTES_PER_ELEMENT))
}

/**
 * The flush intervals an aggregator's timers have begun. Taking 200,000
 * timers' values one by one at the flush instant would hold the event loop
 * for tens of milliseconds, so a flush only begins a new interval here (with
 * another arena for its values), and each timer's values are moved aside
 * lazily: by the flush when it reaches the timer, or by the timer's first
 * value of the new interval, whichever comes first. One per aggregator:
 * another's flush must not move these.
 */
export class TimerIntervals {
  current = 0
  arena = new SampleArena(0)
  /** The arena of the interval before the last one: free again once its flush has released every timer. */
  private spare: SampleArena | null = null

  /** Begins a new interval for every timer at once; returns the number of the one that ended. */
  begin(): number {
    const ended = this.arena
    const need = Math.max(MIN_ARENA_VALUES, ended.used)
    const spare = this.spare
    // Two arenas take turns, so a steady load allocates none; one much too large after a burst is let go.
    if (spare !== null && spare.holders === 0 && spare.data.length >= need && spare.data.length <= 4 * need) {
      spare.used = 0
      this.arena = spare
    } else {
      this.arena = new SampleArena(need)
    }
    this.spare = ended
    return this.current++
  }
}

export class TimerSlot {
  /** The interval its values belong to; older ones are taken before anything else happens. */
  private interval: number
  /** The interval it was created in: a timer created after a flush instant is not part of that flush. */
  readonly born: number
  /** Where this interval's values are (a region of it), once it has any. */
  private arena: SampleArena | null = null
  private offset = 0
  private capacity = 0
  /** How much room the next region gets: what the last interval needed. */
  private nextCapacity = INITIAL_TIMER_CAPACITY
  length = 0
  /** Sample-rate-adjusted number of values (Etsy's timer_counters). */
  count = 0
  private takenArena: SampleArena | null = null
  private takenOffset = 0
  private takenLength = 0
  /**
   * A double from the start (NaN until a first take): starting as a small
   * integer, the first flush would make V8 migrate every timer object.
   */
  takenCount = NaN
  live = true
  /** It has had DogStatsD histogram or distribution values (`h`, `d`): a timer for Graphite, a histogram where a backend has them. */
  histogram = false
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
    if (this.length === this.capacity) this.moveToBiggerRegion()
    this.arena!.data[this.offset + this.length++] = value
    this.count += 1 / sampleRate
  }

  private moveToBiggerRegion(): void {
    let arena = this.arena
    if (arena === null) {
      arena = this.arena = this.intervals.arena
      arena.holders++
    }
    // A steady timer's first region fits its whole interval: no move after that.
    const capacity = this.capacity === 0 ? this.nextCapacity : this.capacity * 2
    const start = arena.reserve(capacity)
    if (this.length > 0) arena.data.copyWithin(start, this.offset, this.offset + this.length)
    this.offset = start
    this.capacity = capacity
  }

  /** This interval's values (a view, valid until the next add or take). */
  values(): Float64Array {
    return this.arena === null ? NO_VALUES : this.arena.data.subarray(this.offset, this.offset + this.length)
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
    this.release()
    this.takenArena = this.arena
    this.takenOffset = this.offset
    this.takenLength = this.length
    this.takenCount = this.count
    this.nextCapacity = Math.max(INITIAL_TIMER_CAPACITY, this.length)
    this.arena = null
    this.capacity = 0
    this.length = 0
    this.count = 0
  }

  /** The taken values (a view, sorted in place by the statistics). */
  taken(): Float64Array {
    const arena = this.takenArena
    return arena === null ? NO_VALUES : arena.data.subarray(this.takenOffset, this.takenOffset + this.takenLength)
  }

  /** Once the taken values are computed: the ended interval's arena may be reused. */
  release(): void {
    if (this.takenArena !== null) this.takenArena.holders--
    this.takenArena = null
    this.takenLength = 0
  }
}

/** Everything known under one metric name, whatever types it was sent as. */
export class KeyEntry {
  /** Its index in the CounterTable, -1 if it has no counter. */
  counter = -1
  timer: TimerSlot | null = null
  /** Its index in the GaugeTable, -1 if it has no gauge. */
  gauge = -1
  set: SetSlot | null = null
  /** Values received since the last flush, whatever their type (for the busiest keys). */
  values = 0
  constructor(readonly name: string) {}

  /** True when no type still holds state under this name. */
  isEmpty(): boolean {
    return !(this.counter >= 0 || this.gauge >= 0 || this.timer?.live || this.set?.live)
  }
}
