import { forgetPages } from '../core/forget-pages'
import { uncountedMemory } from '../core/uncounted-memory'
import type { KeyEntry } from './slots'
import type { HistogramBins } from './timer-stats'

/*
 * Every timer in columns by index, in creation order, as CounterTable keeps
 * the counters. An object per timer (17 fields, two boxed doubles, and an
 * entry in a Map by name) cost about 230 bytes of heap, which V8 lets grow
 * by half again; here a timer costs about 70 bytes of typed arrays and two
 * array slots.
 *
 * Values: each flush interval has one arena (a Float64Array) for every
 * timer's values of that interval, and each timer holds a region of it
 * (offset, length, capacity). A typed array per timer cost about 400 bytes
 * of objects and allocator overhead on top of its values, and garbage at
 * every flush. A timer that outgrows its region moves to a bigger one at
 * the arena's end; the old one is left unused until the arena is.
 *
 * An arena counts the regions in use in each 64 KiB of it (a chunk,
 * CHUNK_SHIFT), and gives a chunk's memory back to the kernel (forgetPages) once none is: the
 * regions timers moved out of, and, as a flush goes through the timers,
 * the regions of the interval it reads. Otherwise both arenas stay resident
 * at their largest, and a flush is when both are full: the one it reads,
 * and the one filling, where each timer's first value of the interval
 * touches its region within a fraction of a second. When the rate goes up,
 * every timer outgrows its region once or twice in one interval: at 100k
 * timers going from 400k to 1.6M metrics/s, that interval's arena reached
 * 2.8M values' room (22 MB) for 0.95M values. Writing given-back memory
 * again costs a page fault per 4 KiB (512 values).
 *
 * Taking 200,000 timers' values one by one at the flush instant would hold
 * the event loop for tens of milliseconds, so a flush only begins a new
 * interval (begin()), and each timer's values are moved aside lazily: by
 * the flush when it reaches the timer (take()), or by the timer's first
 * value of the new interval, whichever comes first. The flush computes the
 * taken values while new ones arrive; flushes never overlap, so one taken
 * set per timer is enough.
 *
 * A timer is live at index i while its key's `timer` is i. Deleting one
 * only sets that to -1 (and lets go of its values); the columns are
 * compacted at the next flush instant, once the flush before has gone
 * through every timer.
 */

const INITIAL_CAPACITY = 64
/** Room for a timer's first values of an interval, when its last interval had none. */
const INITIAL_REGION = 4
/**
 * Room for a timer's first values of an interval, from how many its last
 * interval had: a little more, since a steady client's count still varies
 * from one interval to the next (by one or two at a fixed rate, as the
 * flush instant falls), and one value over the room moves the timer to a
 * region twice as large, leaving the first one unused for the rest of the
 * interval. At 100k timers of ~10 values an interval, an exact fit moved
 * half of them every interval, and the arena used twice the room of its
 * values.
 */
function nextRegion(lastLength: number): number {
  return Math.max(INITIAL_REGION, lastLength + (lastLength >> 3) + 2)
}
/** The smallest arena an interval starts with (values). */
const MIN_ARENA_VALUES = 4096
/**
 * The room an arena reserves at its first value (64 MiB): address space,
 * not memory. Memory that large is mapped afresh and zero by the kernel,
 * so only the pages values are written to become resident; an arena
 * reserved this big never grows by copying below it. Grown by doubling
 * from what the last interval used, an arena left every smaller copy
 * (half its size in all) resident until V8's next full collection: at 100k
 * timers and 1.6M metrics/s, 16 MB more at the peak.
 */
const RESERVED_VALUES = 8 * 1024 * 1024
const NO_VALUES: Float64Array<ArrayBufferLike> = new Float64Array(0)
/** Regions in use are counted per this many values (64 KiB): the unit of memory given back. */
const CHUNK_SHIFT = 13
/** Values in a 4 KiB page. */
const PAGE_VALUES = 512
/** A timer's fields in TimerTable.regions. */
const INTERVAL = 0
const OFFSET = 1
const LENGTH = 2
const CAPACITY = 3
const REGION_FIELDS = 4

/** The values of every timer in one flush interval, back to back. */
class SampleArena {
  data: Float64Array<ArrayBufferLike> = NO_VALUES
  used = 0
  /** The most values it ever held: its resident memory, which reuse does not give back. */
  touched = 0
  /** Timers whose values (current or taken) are in this arena. */
  holders = 0
  /** Regions in use that overlap each chunk (1 << CHUNK_SHIFT values) of data. */
  private inUse = new Int32Array(0)

  /** Allocates nothing until the first value: `capacity` is what to start with then. */
  constructor(private readonly capacity: number) {}

  /** Reserves `n` values; returns where they start. May replace `data` (its contents are kept). */
  reserve(n: number): number {
    if (this.used + n > this.data.length) {
      const bigger = values(Math.max(RESERVED_VALUES, this.capacity, this.data.length * 2, this.used + n))
      bigger.set(this.data.subarray(0, this.used))
      this.data = bigger
      const inUse = new Int32Array((bigger.length >> CHUNK_SHIFT) + 1)
      inUse.set(this.inUse)
      this.inUse = inUse
    }
    const start = this.used
    this.used += n
    if (this.used > this.touched) this.touched = this.used
    for (let c = start >> CHUNK_SHIFT; c <= (start + n - 1) >> CHUNK_SHIFT; c++) this.inUse[c]!++
    return start
  }

  /**
   * The region of `n` values at `start` (from reserve) is no longer used:
   * chunks left with none are given back. Only whole pages inside are, and
   * the memory need not start on a page: a chunk's range reaches a page
   * into each neighbour with none in use either, or a page at each of its
   * edges would stay.
   */
  free(start: number, n: number): void {
    const inUse = this.inUse
    for (let c = start >> CHUNK_SHIFT; c <= (start + n - 1) >> CHUNK_SHIFT; c++) {
      if (--inUse[c]! > 0) continue
      const from = (c << CHUNK_SHIFT) - (c > 0 && inUse[c - 1] === 0 ? PAGE_VALUES : 0)
      const to = ((c + 1) << CHUNK_SHIFT) + (inUse[c + 1] === 0 ? PAGE_VALUES : 0)
      forgetPages(this.data.subarray(from, Math.min(this.data.length, to)))
    }
  }
}

/** Memory for `n` values, kept out of V8's external-memory figure (see uncountedMemory). */
function values(n: number): Float64Array<ArrayBufferLike> {
  return new Float64Array(uncountedMemory(n * Float64Array.BYTES_PER_ELEMENT))
}

/** The flush intervals the timers have begun, and the arena of each one still holding values. */
export class TimerIntervals {
  current = 0
  arena = new SampleArena(0)
  /** Arenas of ended intervals that timers still hold values in, by interval. */
  private readonly older = new Map<number, SampleArena>()
  /** The arena of the interval before the last one: reused once its flush has let go of every timer. */
  private spare: SampleArena | null = null

  /** Begins a new interval for every timer at once; returns the number of the one that ended. */
  begin(): number {
    const ended = this.arena
    if (ended.holders > 0) this.older.set(this.current, ended)
    const need = Math.max(MIN_ARENA_VALUES, ended.used)
    const spare = this.spare
    // Two arenas take turns, so a steady load allocates none; one left resident much larger by a burst is let go.
    if (spare !== null && spare.holders === 0 && spare.data.length >= need && spare.touched <= 4 * need) {
      spare.used = 0
      this.arena = spare
    } else {
      this.arena = new SampleArena(need)
    }
    this.spare = ended
    return this.current++
  }

  /** The arena of interval `k` (one a timer holds values in). */
  arenaOf(k: number): SampleArena {
    return k === this.current ? this.arena : this.older.get(k)!
  }

  /** A timer lets go of its values in interval `k`. */
  release(k: number): void {
    const arena = this.arenaOf(k)
    if (--arena.holders === 0 && k !== this.current) this.older.delete(k)
  }
}

export class TimerTable {
  readonly intervals = new TimerIntervals()
  private entries: KeyEntry[] = []
  /** Replaced when a reload changes the histogram config. */
  private bins: (HistogramBins | null)[] = []
  private length = 0
  private deleted = 0
  /** A flush began at the last instant has not yet gone through every timer: the columns must not move. */
  private reading = false
  /**
   * What each value touches, side by side (REGION_FIELDS per timer, one
   * typed array: a value costs fewer loads and checks than with a column
   * each): the interval its values belong to (older ones are taken before
   * anything else happens), and where they are in that interval's arena
   * (offset, length, capacity; capacity 0: none yet).
   */
  private regions = new Int32Array(INITIAL_CAPACITY * REGION_FIELDS)
  /** The current interval and its arena's values (kept here for addValue; see TimerIntervals). */
  private current = 0
  private data: Float64Array<ArrayBufferLike> = NO_VALUES
  // The other columns, by index.
  /** How much room the next region gets: what the last interval needed. */
  private nextCapacity = new Int32Array(INITIAL_CAPACITY)
  /** Sample-rate-adjusted number of values (Etsy's timer_counters). */
  private counts = new Float64Array(INITIAL_CAPACITY)
  /** The taken interval's values: in the arena of interval takenInterval (-1: none). */
  private takenInterval = new Int32Array(INITIAL_CAPACITY)
  private takenOffset = new Int32Array(INITIAL_CAPACITY)
  private takenLength = new Int32Array(INITIAL_CAPACITY)
  /** The taken region's room (its length in the arena, which counts its regions). */
  private takenCapacity = new Int32Array(INITIAL_CAPACITY)
  private takenCounts = new Float64Array(INITIAL_CAPACITY)
  /** 1: it has had DogStatsD histogram or distribution values (`h`, `d`). */
  private histograms = new Uint8Array(INITIAL_CAPACITY)

  /** Live timers. */
  get size(): number {
    return this.length - this.deleted
  }

  /** Creates `entry`'s timer, with no values; returns its index. */
  add(entry: KeyEntry, bins: HistogramBins | null): number {
    if (this.length === this.counts.length) this.grow()
    const i = this.length++
    this.entries.push(entry)
    this.bins.push(bins)
    const r = i * REGION_FIELDS
    this.regions[r + INTERVAL] = this.current
    this.regions[r + OFFSET] = this.regions[r + LENGTH] = this.regions[r + CAPACITY] = 0
    this.takenOffset[i] = this.takenLength[i] = this.takenCapacity[i] = 0
    this.nextCapacity[i] = INITIAL_REGION
    this.counts[i] = 0
    this.takenInterval[i] = -1
    // NaN until a first take, as Etsy has no count for a timer not yet flushed.
    this.takenCounts[i] = NaN
    this.histograms[i] = 0
    entry.timer = i
    return i
  }

  /** Adds one value of timer `i`. */
  addValue(i: number, value: number, sampleRate: number): void {
    const regions = this.regions
    const r = i * REGION_FIELDS
    if (regions[r + INTERVAL] !== this.current) this.take(i)
    const length = regions[r + LENGTH]!
    if (length === regions[r + CAPACITY]) this.moveToBiggerRegion(i)
    this.data[regions[r + OFFSET]! + length] = value
    regions[r + LENGTH] = length + 1
    this.counts[i] += 1 / sampleRate
  }

  markHistogram(i: number): void {
    this.histograms[i] = 1
  }

  private moveToBiggerRegion(i: number): void {
    // Its values of the current interval are always in the current arena (take() runs first).
    const arena = this.intervals.arena
    const r = i * REGION_FIELDS
    const capacity = this.regions[r + CAPACITY]!
    if (capacity === 0) arena.holders++
    // A steady timer's first region fits its whole interval: no move after that.
    const bigger = capacity === 0 ? this.nextCapacity[i]! : capacity * 2
    const start = arena.reserve(bigger)
    this.data = arena.data
    const offset = this.regions[r + OFFSET]!
    const length = this.regions[r + LENGTH]!
    if (length > 0) arena.data.copyWithin(start, offset, offset + length)
    if (capacity > 0) arena.free(offset, capacity)
    this.regions[r + OFFSET] = start
    this.regions[r + CAPACITY] = bigger
  }

  name(i: number): string {
    return this.entries[i]!.name
  }

  isLive(i: number): boolean {
    return this.entries[i]!.timer === i
  }

  binsOf(i: number): HistogramBins | null {
    return this.bins[i]!
  }

  isHistogram(i: number): boolean {
    return this.histograms[i] === 1
  }

  /** Values of the current interval so far. */
  valueCount(i: number): number {
    const r = i * REGION_FIELDS
    return this.regions[r + INTERVAL] === this.current ? this.regions[r + LENGTH]! : 0
  }

  /** Its values not yet taken (a view, valid until the next add or take). */
  values(i: number): Float64Array {
    const r = i * REGION_FIELDS
    if (this.regions[r + CAPACITY] === 0) return NO_VALUES
    const offset = this.regions[r + OFFSET]!
    return this.intervals.arenaOf(this.regions[r + INTERVAL]!).data.subarray(offset, offset + this.regions[r + LENGTH]!)
  }

  /**
   * Moves the values of an interval that has ended to the taken columns,
   * without copying, and starts the current one empty. Does nothing if they
   * were already moved.
   */
  take(i: number): void {
    const r = i * REGION_FIELDS
    const k = this.regions[r + INTERVAL]!
    if (k === this.current) return
    this.regions[r + INTERVAL] = this.current
    this.release(i)
    const length = this.regions[r + LENGTH]!
    if (this.regions[r + CAPACITY]! > 0) {
      this.takenInterval[i] = k
      this.takenOffset[i] = this.regions[r + OFFSET]!
      this.takenLength[i] = length
      this.takenCapacity[i] = this.regions[r + CAPACITY]!
    }
    this.takenCounts[i] = this.counts[i]!
    this.nextCapacity[i] = nextRegion(length)
    this.regions[r + CAPACITY] = this.regions[r + LENGTH] = 0
    this.counts[i] = 0
  }

  /** The taken values (a view, sorted in place by the statistics). */
  taken(i: number): Float64Array {
    const k = this.takenInterval[i]!
    if (k < 0) return NO_VALUES
    const start = this.takenOffset[i]!
    return this.intervals.arenaOf(k).data.subarray(start, start + this.takenLength[i]!)
  }

  /** The sample-rate-adjusted count of the taken values. */
  takenCount(i: number): number {
    return this.takenCounts[i]!
  }

  /** Once the taken values are computed: their arena may be reused. */
  release(i: number): void {
    const k = this.takenInterval[i]!
    if (k < 0) return
    this.takenInterval[i] = -1
    this.takenLength[i] = 0
    this.intervals.arenaOf(k).free(this.takenOffset[i]!, this.takenCapacity[i]!)
    this.intervals.release(k)
  }

  /** Deletes `entry`'s timer, if it has one, with its values. */
  remove(entry: KeyEntry): void {
    const i = entry.timer
    if (i < 0) return
    entry.timer = -1
    this.deleted++
    const r = i * REGION_FIELDS
    const capacity = this.regions[r + CAPACITY]!
    if (capacity > 0) {
      const k = this.regions[r + INTERVAL]!
      this.intervals.arenaOf(k).free(this.regions[r + OFFSET]!, capacity)
      this.intervals.release(k)
    }
    this.regions[r + CAPACITY] = this.regions[r + LENGTH] = 0
    this.release(i)
  }

  /** Deletes timer `i`, with its values. */
  removeAt(i: number): void {
    this.remove(this.entries[i]!)
  }

  /** Every live timer's index, in flush order. */
  *live(): Generator<number> {
    for (let i = 0; i < this.length; i++) if (this.entries[i]!.timer === i) yield i
  }

  /** New histogram bins for every timer (a reload). */
  rebin(binsFor: (name: string) => HistogramBins | null): void {
    for (let i = 0; i < this.length; i++) this.bins[i] = binsFor(this.entries[i]!.name)
  }

  /**
   * The flush instant: begins a new interval. Returns how many timers the
   * flush goes through (those created later are not part of it); it calls
   * finishedReading() once it has.
   */
  begin(): number {
    if (this.deleted > 0 && !this.reading) this.compact()
    this.reading = true
    this.intervals.begin()
    this.current = this.intervals.current
    this.data = this.intervals.arena.data
    return this.length
  }

  finishedReading(): void {
    this.reading = false
  }

  private grow(): void {
    const size = this.counts.length * 2
    const int32 = (a: Int32Array): Int32Array<ArrayBuffer> => {
      const b = new Int32Array(size)
      b.set(a)
      return b
    }
    const float64 = (a: Float64Array): Float64Array<ArrayBuffer> => {
      const b = new Float64Array(size)
      b.set(a)
      return b
    }
    const regions = new Int32Array(size * REGION_FIELDS)
    regions.set(this.regions)
    this.regions = regions
    this.nextCapacity = int32(this.nextCapacity)
    this.takenInterval = int32(this.takenInterval)
    this.takenOffset = int32(this.takenOffset)
    this.takenLength = int32(this.takenLength)
    this.takenCapacity = int32(this.takenCapacity)
    this.counts = float64(this.counts)
    this.takenCounts = float64(this.takenCounts)
    const histograms = new Uint8Array(size)
    histograms.set(this.histograms)
    this.histograms = histograms
  }

  /** Drops deleted timers, keeping the order of the others. */
  private compact(): void {
    let kept = 0
    const int32 = [this.nextCapacity, this.takenInterval, this.takenOffset, this.takenLength, this.takenCapacity]
    for (let i = 0; i < this.length; i++) {
      const entry = this.entries[i]!
      if (entry.timer !== i) continue
      if (kept !== i) {
        this.entries[kept] = entry
        this.bins[kept] = this.bins[i]!
        for (const column of int32) column[kept] = column[i]!
        this.regions.copyWithin(kept * REGION_FIELDS, i * REGION_FIELDS, (i + 1) * REGION_FIELDS)
        this.counts[kept] = this.counts[i]!
        this.takenCounts[kept] = this.takenCounts[i]!
        this.histograms[kept] = this.histograms[i]!
        entry.timer = kept
      }
      kept++
    }
    this.entries.length = this.bins.length = kept
    this.length = kept
    this.deleted = 0
  }
}
