/*
 * Bucket layouts for timers sent as histograms (in seconds). Every instance
 * with the same settings uses the same bounds, so that histograms from many
 * instances merge by adding bucket counts.
 */

/**
 * The default classic layout: 40 bounds from 1 ms to about 12 minutes, each
 * √2 times the one before (rounded to 4 significant digits), then +Inf. A
 * value is known to within its bucket: the upper bound is √2 (1.414) times
 * the lower one, so a percentile read from the merged histogram is within
 * a factor of 1.414 of the exact one (often much closer, since
 * histogram_quantile interpolates within the bucket).
 */
export const DEFAULT_BOUNDS: readonly number[] = Array.from({ length: 40 }, (_, i) => Number((0.001 * 2 ** (i / 2)).toPrecision(4)))

export interface BucketRule {
  /** A substring of the statsd name (the first rule that matches wins, as Etsy's `histogram`). */
  metric: string
  /** Upper bounds in seconds, increasing; +Inf is implied. */
  buckets: number[]
}

/** The bounds for a timer: the first rule whose metric is a substring of its name, else DEFAULT_BOUNDS. */
export function boundsFor(name: string, rules: readonly BucketRule[]): readonly number[] {
  for (const rule of rules) if (name.includes(rule.metric)) return rule.buckets
  return DEFAULT_BOUNDS
}

/** Index of the bucket holding `v` (the first bound >= v; bounds.length is +Inf). */
export function bucketIndex(bounds: readonly number[], v: number): number {
  let lo = 0
  let hi = bounds.length
  while (lo < hi) {
    const mid = (lo + hi) >>> 1
    if (bounds[mid]! >= v) hi = mid
    else lo = mid + 1
  }
  return lo
}

/**
 * Native (exponential) histogram bucket of a positive value: bucket i holds
 * (base^(i-1), base^i] with base = 2^(2^-schema), as Prometheus and OTLP
 * define it (OTLP numbers the same buckets from i - 1).
 */
export function nativeIndex(v: number, schema: number): number {
  const scale = 2 ** schema
  const i = Math.ceil(Math.log2(v) * scale)
  // log2 rounds: put values exactly on a bound (or just past it by float error) where they belong.
  if (2 ** ((i - 1) / scale) >= v) return i - 1
  if (2 ** (i / scale) < v) return i + 1
  return i
}

/** Values at or below this (in seconds, by magnitude) go to the zero bucket of a native histogram. */
export const NATIVE_ZERO_THRESHOLD = 1e-9
