import type { HistogramBins, TimerStat } from './timer-stats'

/*
 * Timer statistics as statsgod computes them (acquia/statsgod
 * statsgod/metric.go ProcessMetric, statistics.go), in its order:
 * rate, mean_value, median_value, max_value, min_value, then per percentile
 * q: mean_q, median_q, upper_q, sum_q over the values at or below the
 * linearly interpolated q-th percentile. Differences (see README): values
 * stay 64-bit, and the rate divides by the real interval, not whole seconds.
 */

export class StatsgodTimerStats {
  private readonly percentiles: { fraction: number; suffix: string }[]

  constructor(percentThreshold: readonly number[]) {
    // statsgod knows only upper percentiles; Etsy's negative "lower" ones have no statsgod name.
    this.percentiles = percentThreshold
      .filter((pct) => pct > 0)
      .map((pct) => ({ fraction: pct / 100, suffix: String(pct).replace('.', '_') }))
  }

  /** statsgod has no histograms. */
  binsFor(): HistogramBins | null {
    return null
  }

  /** `values` is sorted in place; `count` is the sample-rate-adjusted number of values. */
  compute(values: Float64Array, count: number, flushIntervalMs: number, _bins: HistogramBins | null, out: TimerStat[]): void {
    out.push(['rate', count / (flushIntervalMs / 1000)])
    const n = values.length
    if (n === 0) return
    values.sort()
    out.push(['mean_value', mean(values, n)], ['median_value', median(values, n)])
    out.push(['max_value', values[n - 1]!], ['min_value', values[0]!])
    for (const { fraction, suffix } of this.percentiles) {
      const within = valuesUpTo(values, quantile(values, fraction))
      let sum = 0
      for (let i = 0; i < within; i++) sum += values[i]!
      out.push(
        ['mean_' + suffix, mean(values, within)],
        ['median_' + suffix, median(values, within)],
        ['upper_' + suffix, values[within - 1]!],
        ['sum_' + suffix, sum],
      )
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
