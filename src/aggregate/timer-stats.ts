import type { HistogramConfig } from '../config/schema'
import type { TimerColumns } from './timer-columns'

/*
 * Timer statistics with Etsy statsd 0.9's exact maths (lib/process_metrics.js):
 * the same operations in the same order, so that every emitted number is the
 * same double and prints the same digits. Two Etsy bugs are fixed (see README):
 * a "top" percentile covering every value no longer yields NaN, and
 * calculatedTimerMetrics filters decimal percentiles such as 99.9 correctly.
 */

/** Each statistic's index in statNames; -1 where calculatedTimerMetrics filters it out. */
interface PercentileIds {
  pct: number
  count: number
  mean: number
  bound: number
  sum: number
  sumSquares: number
}

export interface HistogramBins {
  limits: number[] // Infinity for 'inf'
  /** Each bin's statistic ("histogram.bin_50"), an index into statNames. */
  ids: number[]
}

/** The statistics every timer has (each an index into statNames, -1 if filtered out), in Etsy's order. */
const BASE_STATS = ['std', 'upper', 'lower', 'count', 'count_ps', 'sum', 'sum_squares', 'mean', 'median'] as const

export class TimerStatsCalculator {
  /** The name of every statistic this calculator writes, by id (TimerColumns). */
  readonly statNames: string[] = []
  private readonly ids = new Map<string, number>()
  private readonly percentiles: PercentileIds[]
  private readonly base: Record<(typeof BASE_STATS)[number], number>
  private readonly keep: (name: string) => boolean
  private readonly keepHistogram: boolean
  private cumulative = new Float64Array(1024)
  private cumulativeSquares = new Float64Array(1024)

  constructor(
    percentThreshold: readonly number[],
    private readonly histogram: HistogramConfig,
    calculatedTimerMetrics: readonly string[] | undefined,
  ) {
    // Etsy: an absent or empty list means "everything".
    const wanted = calculatedTimerMetrics && calculatedTimerMetrics.length > 0 ? new Set(calculatedTimerMetrics) : null
    this.keep = (name) => wanted === null || wanted.has(name)
    this.keepHistogram = this.keep('histogram')
    this.percentiles = percentThreshold.map((pct) => {
      const suffix = String(pct).replace('.', '_').replace('-', 'top')
      const named = (stat: string): number => (this.keep(`${stat}_percent`) ? this.id(`${stat}_${suffix}`) : -1)
      return {
        pct,
        count: named('count'),
        mean: named('mean'),
        bound: named(pct > 0 ? 'upper' : 'lower'),
        sum: named('sum'),
        sumSquares: named('sum_squares'),
      }
    })
    this.base = Object.fromEntries(BASE_STATS.map((stat) => [stat, this.keep(stat) ? this.id(stat) : -1])) as TimerStatsCalculator['base']
  }

  /** Histogram bins for a timer name: Etsy's first substring match wins. */
  binsFor(name: string): HistogramBins | null {
    for (const entry of this.histogram) {
      if (name.indexOf(entry.metric) > -1) {
        if (entry.bins.length === 0) return null
        return {
          limits: entry.bins.map((b) => (b === 'inf' ? Infinity : b)),
          ids: entry.bins.map((b) => this.id('histogram.bin_' + String(b).replace('.', '_'))),
        }
      }
    }
    return null
  }

  /**
   * Statistics of one timer for one flush, in Etsy's order.
   * `values` is sorted in place; `count` is the sample-rate-adjusted count.
   */
  compute(
    values: Float64Array,
    count: number,
    flushIntervalMs: number,
    bins: HistogramBins | null,
    out: TimerColumns,
  ): void {
    const n = values.length
    const base = this.base
    if (n === 0) {
      push(out, base.count, 0)
      push(out, base.count_ps, 0)
      return
    }
    sortValues(values)
    const min = values[0]!
    const max = values[n - 1]!
    const cumulative = this.cumulativeOf(values)
    const cumulativeSquares = this.cumulativeSquares

    for (const p of this.percentiles) {
      let numInThreshold = n
      let sum = min
      let sumSquares = min * min
      let mean = min
      let boundary = max
      if (n > 1) {
        numInThreshold = Math.round((Math.abs(p.pct) / 100) * n)
        if (numInThreshold === 0) continue
        if (p.pct > 0) {
          boundary = values[numInThreshold - 1]!
          sum = cumulative[numInThreshold - 1]!
          sumSquares = cumulativeSquares[numInThreshold - 1]!
        } else {
          boundary = values[n - numInThreshold]!
          // Etsy reads index -1 (undefined -> NaN) when the top percentile covers every value.
          const before = n - numInThreshold - 1
          sum = before >= 0 ? cumulative[n - 1]! - cumulative[before]! : cumulative[n - 1]!
          sumSquares = before >= 0 ? cumulativeSquares[n - 1]! - cumulativeSquares[before]! : cumulativeSquares[n - 1]!
        }
        mean = sum / numInThreshold
      }
      push(out, p.count, numInThreshold)
      push(out, p.mean, mean)
      push(out, p.bound, boundary)
      push(out, p.sum, sum)
      push(out, p.sumSquares, sumSquares)
    }

    const sum = cumulative[n - 1]!
    const sumSquares = cumulativeSquares[n - 1]!
    const mean = sum / n
    let sumOfDiffs = 0
    for (let i = 0; i < n; i++) sumOfDiffs += (values[i]! - mean) * (values[i]! - mean)
    const mid = Math.floor(n / 2)
    const median = n % 2 ? values[mid]! : (values[mid - 1]! + values[mid]!) / 2

    push(out, base.std, Math.sqrt(sumOfDiffs / n))
    push(out, base.upper, max)
    push(out, base.lower, min)
    push(out, base.count, count)
    push(out, base.count_ps, count / (flushIntervalMs / 1000))
    push(out, base.sum, sum)
    push(out, base.sum_squares, sumSquares)
    push(out, base.mean, mean)
    push(out, base.median, median)

    if (bins !== null && this.keepHistogram) {
      // Values above the last bin are not counted, by Etsy's design.
      let i = 0
      for (let b = 0; b < bins.limits.length; b++) {
        const limit = bins.limits[b]!
        let frequency = 0
        for (; i < n && (limit === Infinity || values[i]! < limit); i++) frequency++
        out.push(bins.ids[b]!, frequency)
      }
    }
  }

  private id(name: string): number {
    let id = this.ids.get(name)
    if (id === undefined) {
      id = this.statNames.push(name) - 1
      this.ids.set(name, id)
    }
    return id
  }

  /** Running sums as Etsy computes them (left to right), in reused scratch arrays. */
  private cumulativeOf(values: Float64Array): Float64Array {
    const n = values.length
    if (this.cumulative.length < n) {
      const size = Math.max(n, this.cumulative.length * 2)
      this.cumulative = new Float64Array(size)
      this.cumulativeSquares = new Float64Array(size)
    }
    const cumulative = this.cumulative
    const squares = this.cumulativeSquares
    cumulative[0] = values[0]!
    squares[0] = values[0]! * values[0]!
    for (let i = 1; i < n; i++) {
      cumulative[i] = values[i]! + cumulative[i - 1]!
      squares[i] = values[i]! * values[i]! + squares[i - 1]!
    }
    return cumulative
  }
}

function push(out: TimerColumns, id: number, value: number): void {
  if (id >= 0) out.push(id, value)
}

/** Up to this many values are sorted here; more go to the built-in sort. */
const INSERTION_SORT_MAX = 32

/**
 * Sorts in place into the built-in sort's order (-0 before 0): a call to the
 * built-in costs more than sorting a few values here, and most timers get
 * only a few values per interval.
 */
export function sortValues(values: Float64Array): void {
  const n = values.length
  if (n > INSERTION_SORT_MAX) {
    values.sort()
    return
  }
  for (let i = 1; i < n; i++) {
    const v = values[i]!
    let j = i - 1
    while (j >= 0 && before(v, values[j]!)) {
      values[j + 1] = values[j]!
      j--
    }
    values[j + 1] = v
  }
}

/** a sorts before b as the built-in TypedArray sort has it (values are never NaN). */
function before(a: number, b: number): boolean {
  return a < b || (a === 0 && b === 0 && 1 / a < 0 && 1 / b > 0)
}
