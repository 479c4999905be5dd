import type { HistogramConfig } from '../config/schema'

/*
 * Timer statistics with Etsy statsd 0.9's exact maths (lib/process_metrics.js):
 * the same operations in the same order, so that every emitted number is the
 * same double and prints the same digits. Two Etsy bugs are fixed (see README):
 * a "top" percentile covering every value no longer yields NaN, and
 * calculatedTimerMetrics filters decimal percentiles such as 99.9 correctly.
 */

export type TimerStat = [name: string, value: number]

interface PercentileNames {
  pct: number
  /** null where calculatedTimerMetrics filters the statistic out. */
  count: string | null
  mean: string | null
  bound: string | null
  sum: string | null
  sumSquares: string | null
}

export interface HistogramBins {
  limits: number[] // Infinity for 'inf'
  names: string[]
}

export class TimerStatsCalculator {
  private readonly percentiles: PercentileNames[]
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
      const named = (stat: string): string | null => (this.keep(`${stat}_percent`) ? `${stat}_${suffix}` : null)
      return {
        pct,
        count: named('count'),
        mean: named('mean'),
        bound: named(pct > 0 ? 'upper' : 'lower'),
        sum: named('sum'),
        sumSquares: named('sum_squares'),
      }
    })
  }

  /** Histogram bins for a timer name: Etsy's first substring match wins. */
  binsFor(name: string): HistogramBins | null {
    for (const entry of this.histogram) {
      if (name.indexOf(entry.metric) > -1) {
        if (entry.bins.length === 0) return null
        return {
          limits: entry.bins.map((b) => (b === 'inf' ? Infinity : b)),
          names: entry.bins.map((b) => 'bin_' + String(b).replace('.', '_')),
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
    out: TimerStat[],
  ): void {
    const n = values.length
    if (n === 0) {
      this.push(out, 'count', 0)
      this.push(out, 'count_ps', 0)
      return
    }
    values.sort()
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
      if (p.count !== null) out.push([p.count, numInThreshold])
      if (p.mean !== null) out.push([p.mean, mean])
      if (p.bound !== null) out.push([p.bound, boundary])
      if (p.sum !== null) out.push([p.sum, sum])
      if (p.sumSquares !== null) out.push([p.sumSquares, sumSquares])
    }

    const sum = cumulative[n - 1]!
    const sumSquares = cumulativeSquares[n - 1]!
    const mean = sum / n
    let sumOfDiffs = 0
    for (let i = 0; i < n; i++) sumOfDiffs += (values[i]! - mean) * (values[i]! - mean)
    const mid = Math.floor(n / 2)
    const median = n % 2 ? values[mid]! : (values[mid - 1]! + values[mid]!) / 2

    this.push(out, 'std', Math.sqrt(sumOfDiffs / n))
    this.push(out, 'upper', max)
    this.push(out, 'lower', min)
    this.push(out, 'count', count)
    this.push(out, 'count_ps', count / (flushIntervalMs / 1000))
    this.push(out, 'sum', sum)
    this.push(out, 'sum_squares', sumSquares)
    this.push(out, 'mean', mean)
    this.push(out, 'median', median)

    if (bins !== null && this.keepHistogram) {
      // Values above the last bin are not counted, by Etsy's design.
      let i = 0
      for (let b = 0; b < bins.limits.length; b++) {
        const limit = bins.limits[b]!
        let frequency = 0
        for (; i < n && (limit === Infinity || values[i]! < limit); i++) frequency++
        out.push(['histogram.' + bins.names[b]!, frequency])
      }
    }
  }

  private push(out: TimerStat[], name: string, value: number): void {
    if (this.keep(name)) out.push([name, value])
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
