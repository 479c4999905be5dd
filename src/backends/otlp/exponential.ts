import { nativeIndex } from '../remote-write/buckets'

/*
 * One interval's timer values as an OTLP exponential histogram: bucket i
 * holds (base^i, base^(i+1)] with base = 2^(2^-scale). The scale is the
 * finest (at most MAX_SCALE) at which the values fit in maxBuckets buckets
 * per sign, as the OpenTelemetry SDK picks it, so a histogram is exact to
 * a relative width of base - 1 and collectors can merge any two by
 * lowering the finer one's scale.
 */

export const MAX_SCALE = 20
const MIN_SCALE = -10

export interface Exponential {
  scale: number
  zeroCount: number
  positive: { offset: number; bucket_counts: number[] }
  negative: { offset: number; bucket_counts: number[] }
  count: number
  sum: number
  min: number
  max: number
}

/** OTLP's bucket of |v| at `scale` (Prometheus native index - 1: the same buckets, numbered from their lower bound). */
const otlpIndex = (v: number, scale: number): number => nativeIndex(Math.abs(v), scale) - 1

/**
 * `values` in seconds, each standing for `weight` events (a sample rate of
 * 1/weight). Counts are rounded to whole events (cumulatively, so that
 * they add up to the rounded total).
 */
export function exponentialHistogram(values: ArrayLike<number>, weight: number, maxBuckets: number): Exponential {
  let min = Infinity
  let max = -Infinity
  let sum = 0
  // The smallest and largest magnitude on each side, to choose the scale.
  const range = { pos: [Infinity, 0], neg: [Infinity, 0] }
  let zeros = 0
  for (let i = 0; i < values.length; i++) {
    const v = values[i]!
    if (v < min) min = v
    if (v > max) max = v
    sum += v * weight
    if (v === 0) {
      zeros++
      continue
    }
    const side = v > 0 ? range.pos : range.neg
    const m = Math.abs(v)
    if (m < side[0]!) side[0] = m
    if (m > side[1]!) side[1] = m
  }
  let scale = MAX_SCALE
  const fits = (s: number): boolean =>
    [range.pos, range.neg].every(([lo, hi]) => lo === Infinity || otlpIndex(hi!, s) - otlpIndex(lo!, s) < maxBuckets)
  while (scale > MIN_SCALE && !fits(scale)) scale--
  const side = (sign: 1 | -1, [lo]: number[]): { offset: number; bucket_counts: number[] } => {
    if (lo === Infinity) return { offset: 0, bucket_counts: [] }
    const offset = otlpIndex(lo!, scale)
    const counts: number[] = []
    for (let i = 0; i < values.length; i++) {
      const v = values[i]!
      if (v === 0 || Math.sign(v) !== sign) continue
      const b = otlpIndex(v, scale) - offset
      while (counts.length <= b) counts.push(0)
      counts[b]! += weight
    }
    return { offset, bucket_counts: roundCumulatively(counts) }
  }
  const positive = side(1, range.pos)
  const negative = side(-1, range.neg)
  const zeroCount = Math.round(zeros * weight)
  const count = zeroCount + total(positive.bucket_counts) + total(negative.bucket_counts)
  return { scale, zeroCount, positive, negative, count, sum, min, max }
}

const total = (counts: number[]): number => counts.reduce((a, b) => a + b, 0)

/** Whole counts whose running totals are the rounded running totals of `counts`. */
function roundCumulatively(counts: number[]): number[] {
  let cumulative = 0
  let rounded = 0
  return counts.map((c) => {
    cumulative += c
    const next = Math.round(cumulative)
    const out = next - rounded
    rounded = next
    return out
  })
}
