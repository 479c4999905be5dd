import type { TimerColumns } from './timer-columns'
import { type HistogramBins, sortValues } from './timer-stats'

/*
 * Timer statistics as statsgod computes them (acquia/statsgod
 * statsgod/metric.go ProcessMetric, statistics.go), in its order:
 * rate, mean_value, median_value, max_value, min_value, then per percentile
 * q: mean_q, median_q, upper_q, sum_q over the values at or below the
 * linearly interpolated q-th percentile. Differences (see README): values
 * stay 64-bit, and the rate divides by the real interval, not whole seconds.
 */

/** Ids (indexes into statNames) of the statistics every timer has. */
const RATE = 0
const MEAN = 1
const MEDIAN = 2
const MAX = 3
const MIN = 4

export class StatsgodTimerStats {
  readonly statNames = ['rate', 'mean_value', 'median_value', 'max_value', 'min_value']
  /** Per percentile, the id of its first statistic (mean_q; then median_q, upper_q, sum_q). */
  private readonly percentiles: { fraction: number; id: number }[]

  constructor(percentThreshold: readonly number[]) {
    // statsgod knows only upper percentiles; Etsy's negative "lower" ones have no statsgod name.
    this.percentiles = percentThreshold
      .filter((pct) => pct > 0)
      .map((pct) => {
        const suffix = String(pct).replace('.', '_')
        const id = this.statNames.push('mean_' + suffix, 'median_' + suffix, 'upper_' + suffix, 'sum_' + suffix) - 4
        return { fraction: pct / 100, id }
      })
  }

  /** statsgod has no histograms. */
  binsFor(): HistogramBins | null {
    return null
  }

  /** `values` is sorted in place; `count` is the sample-rate-adjusted number of values. */
  compute(values: Float64Array, count: number, flushIntervalMs: number, _bins: HistogramBins | null, out: TimerColumns): void {
    out.push(RATE, count / (flushIntervalMs / 1000))
    const n = values.length
    if (n === 0) return
    sortValues(values)
    out.push(MEAN, mean(values, n))
    out.push(MEDIAN, median(values, n))
    out.push(MAX, values[n - 1]!)
    out.push(MIN, values[0]!)
    for (const { fraction, id } of this.percentiles) {
      const within = valuesUpTo(values, quantile(values, fraction))
      let sum = 0
      for (let i = 0; i < within; i++) sum += values[i]!
      out.push(id, mean(values, within))
      out.push(id + 1, median(values, within))
      out.push(id + 2, values[within - 1]!)
      out.push(id + 3, sum)
    }
  }
}

/** statsgod's running mean over the first n values (the same operations, so the same digits). */
function mean(values: Float64Array, n: number): number {
  let m = 0
  for (let i = 0; i < n; i++) m += (values[i]! - m) / (i + 1)
  return m
}

function median(values: Float64Array, n: number): number {
  const left = (n - 1) >> 1
  const right = n >> 1
  return left === right ? values[left]! : (values[left]! + values[right]!) / 2
}

/** Linear interpolation between the two closest ranks, as statsgod's Quantile. */
function quantile(values: Float64Array, fraction: number): number {
  const n = values.length
  const index = fraction * (n - 1)
  const boundary = Math.floor(index)
  if (boundary >= n - 1) return values[n - 1]!
  const delta = index - boundary
  const low = values[boundary]!
  // Never below the lower rank: rounding in the blend must not drop values equal to it.
  return Math.max(low, (1 - delta) * low + delta * values[boundary + 1]!)
}

/** How many of the sorted values are <= limit (at least one: limit >= the smallest). */
function valuesUpTo(values: Float64Array, limit: number): number {
  let k = 0
  while (k < values.length && values[k]! <= limit) k++
  return k
}
