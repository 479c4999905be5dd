import type { FlushPart, FlushTrailer } from '../../aggregate/flush-data'
import type { TimestampedPoint } from '../../aggregate/timestamped-points'
import { splitTags } from '../tags'
import { byName, invalidSeries, type LabelPair, promName, SeriesTable, tagLabels } from '../prometheus/series'
import { boundsFor, type BucketRule, bucketIndex, NATIVE_ZERO_THRESHOLD, nativeIndex } from './buckets'
import { type BucketSpan, type Label, type NativeHistogram, STALE_NAN, type TimeSeries } from './proto'
import { serviceCheckSeries } from '../dogstatsd-events'

/*
 * What this instance has aggregated since it started, as remote write
 * series (the shared model of ../prometheus/series.ts):
 *   counter  cumulative since the series appeared, so that summing every
 *            instance's latest value gives the global total exactly
 *   gauge    gauges and sets (a set's distinct count of the interval)
 *   timer    a histogram in seconds named <name>_seconds: classic buckets
 *            (_bucket{le=...}, _sum, _count, cumulative), or one native
 *            histogram when `native` is set
 * Values with a client timestamp (DogStatsD `T`) are samples at their own
 * times, outside this state (see pointSeries).
 * A series missing from a flush (the aggregator let it go: deleteIdleStats,
 * delete*, gaugesMaxTTL) gets a staleness marker in that flush and is
 * forgotten, so queries stop showing it at once rather than 5 minutes later.
 */

export interface SeriesOptions {
  /** instance, job and the static labels, on every series. */
  labels: Record<string, string>
  prefixStats: string
  buckets: readonly BucketRule[]
  /** Native histograms with this schema instead of classic buckets; null for classic. */
  nativeSchema: number | null
}

interface Base {
  /** The flush it was last in. */
  seen: number
  /** Why it cannot be sent, or null. */
  invalid: string | null
}
interface ValueSeries extends Base {
  kind: 'value'
  labels: Label[]
  value: number
}
interface ClassicSeries extends Base {
  kind: 'classic'
  bounds: readonly number[]
  /** Events per bucket (not cumulative; the last is +Inf). */
  counts: Float64Array
  sum: number
  count: number
  bucketLabels: Label[][]
  sumLabels: Label[]
  countLabels: Label[]
}
interface NativeSeries extends Base {
  kind: 'native'
  labels: Label[]
  positive: Map<number, number>
  negative: Map<number, number>
  zero: number
  sum: number
  count: number
}
type Series = ValueSeries | ClassicSeries | NativeSeries

export interface FlushSummary {
  /** Series in this flush (each classic bucket is one), staleness markers included. */
  series: number
  /** Of them, staleness markers. */
  stale: number
}

export class RemoteWriteSeries {
  private readonly table: SeriesTable<Series>
  private readonly base: LabelPair[]
  private seq = 0
  /** Series never sent because a receiver would refuse them (counted once each), and the last reason. */
  invalid = 0
  lastInvalid = ''

  constructor(private readonly opts: SeriesOptions) {
    this.base = Object.entries(opts.labels)
    this.table = new SeriesTable(new Set(['instance', 'job', 'le', ...Object.keys(opts.labels)]))
  }

  get conflicts(): number {
    return this.table.conflicts
  }

  /** A new flush starts: what it does not touch goes stale at its end. */
  begin(): void {
    this.seq++
  }

  /** Applies one part of the flush (within the flush's time slice: no allocation per value). */
  write(part: FlushPart): void {
    for (const c of part.counters) {
      const s = this.value(c.name)
      if (s !== null) s.value += c.value
    }
    const timers = part.timers
    for (let t = 0; t < timers.count; t++) {
      const s = this.table.get(timers.names[t]!, '_seconds', 'histogram', (name, tags, base) => this.histogram(name, tags, base))
      if (s === null || s.kind === 'value') continue
      s.seen = this.seq
      const values = timers.samplesOf(t)
      if (values.length === 0) continue
      const events = timers.sampleCounts[t]!
      const weight = events / values.length
      s.count += events
      for (let i = 0; i < values.length; i++) {
        const seconds = values[i]! / 1000
        s.sum += seconds * weight
        if (s.kind === 'classic') s.counts[bucketIndex(s.bounds, seconds)]! += weight
        else if (Math.abs(seconds) <= NATIVE_ZERO_THRESHOLD) s.zero += weight
        else {
          const side = seconds > 0 ? s.positive : s.negative
          const index = nativeIndex(Math.abs(seconds), this.opts.nativeSchema!)
          side.set(index, (side.get(index) ?? 0) + weight)
        }
      }
    }
    for (const g of part.gauges) {
      const s = this.value(g.name, 'gauge')
      if (s !== null) s.value = g.value
    }
    for (const set of part.sets) {
      const s = this.value(set.name, 'gauge')
      if (s !== null) s.value = set.count
    }
  }

  /** The server's own figures, as gauges. */
  writeTrailer(trailer: FlushTrailer): void {
    const own = (name: string, value: number): void => {
      const s = this.value(`${this.opts.prefixStats}.${name}`, 'gauge')
      if (s !== null) s.value = value
    }
    own('processing_time', trailer.processingTime)
    for (const m of trailer.selfMetrics) own(m.name, m.value)
    for (const check of trailer.serviceChecks ?? []) {
      const s = this.value(serviceCheckSeries(check), 'gauge')
      if (s !== null) s.value = check.status
    }
  }

  /**
   * The flush as remote write series, in batches of at most `batch`; series
   * this flush did not touch get their staleness marker and are forgotten.
   * Invalid series are left out (counted when they appeared).
   */
  *timeseries(timestampMs: number, batch: number, summary: FlushSummary): Generator<TimeSeries[]> {
    let out: TimeSeries[] = []
    const add = (labels: Label[], value: number): void => {
      out.push({ labels, samples: [{ value, timestamp: timestampMs }] })
    }
    const seq = this.seq
    for (const family of this.table.families.values()) {
      for (const [key, s] of family.series) {
        const stale = s.seen !== seq
        if (stale) {
          family.series.delete(key)
          this.table.forgetLookups()
        }
        if (s.invalid !== null) continue
        const before = out.length
        if (s.kind === 'value') add(s.labels, stale ? STALE_NAN : s.value)
        else if (s.kind === 'classic') {
          let cumulative = 0
          for (let b = 0; b < s.bucketLabels.length; b++) {
            cumulative += s.counts[b]!
            add(s.bucketLabels[b]!, stale ? STALE_NAN : cumulative)
          }
          add(s.sumLabels, stale ? STALE_NAN : s.sum)
          add(s.countLabels, stale ? STALE_NAN : s.count)
        } else {
          out.push({ labels: s.labels, histograms: [nativeHistogram(s, this.opts.nativeSchema!, timestampMs, stale)] })
        }
        summary.series += out.length - before
        if (stale) summary.stale += out.length - before
        if (out.length >= batch) {
          yield out
          out = []
        }
      }
    }
    for (const [name, family] of this.table.families) if (family.series.size === 0) this.table.families.delete(name)
    if (out.length > 0) yield out
  }

  /**
   * Values with a client timestamp, a sample each at its time (ms): a gauge's
   * value, or a counter point's count, in a series named and labelled as
   * the interval's would be. Not part of the cumulative counters (a sample
   * in their past would be out of order); invalid ones are left out and
   * counted as other invalid series are.
   */
  *pointSeries(points: readonly TimestampedPoint[], batch: number): Generator<TimeSeries[]> {
    let out: TimeSeries[] = []
    const reserved = new Set(['instance', 'job', 'le', ...Object.keys(this.opts.labels)])
    for (const p of points) {
      const { base, tags } = splitTags(p.name)
      const name = promName(base)
      const labels = tagLabels(tags, reserved)
      if (this.validate(name, labels) !== null) continue
      out.push({ labels: this.labels(name, labels), samples: [{ value: p.value, timestamp: p.timestamp * 1000 }] })
      if (out.length >= batch) {
        yield out
        out = []
      }
    }
    if (out.length > 0) yield out
  }

  private value(metric: string, kind: 'counter' | 'gauge' = 'counter'): ValueSeries | null {
    const s = this.table.get(metric, '', kind, (name, tags) => {
      return { kind: 'value', seen: 0, invalid: this.validate(name, tags), labels: this.labels(name, tags), value: 0 }
    }) as ValueSeries | null
    if (s !== null) s.seen = this.seq
    return s
  }

  private histogram(name: string, tags: LabelPair[], metric: string): ClassicSeries | NativeSeries {
    const invalid = this.validate(name, tags)
    const labels = this.labels(name, tags)
    if (this.opts.nativeSchema !== null) {
      return { kind: 'native', seen: 0, invalid, labels, positive: new Map(), negative: new Map(), zero: 0, sum: 0, count: 0 }
    }
    const bounds = boundsFor(metric, this.opts.buckets)
    const named = (suffix: string, extra: LabelPair[] = []): Label[] => this.labels(name + suffix, [...tags, ...extra])
    return {
      kind: 'classic',
      seen: 0,
      invalid,
      bounds,
      counts: new Float64Array(bounds.length + 1),
      sum: 0,
      count: 0,
      bucketLabels: [...bounds.map((b) => named('_bucket', [['le', String(b)]])), named('_bucket', [['le', '+Inf']])],
      sumLabels: named('_sum'),
      countLabels: named('_count'),
    }
  }

  /** Why a new series cannot be sent (counted), or null. */
  private validate(name: string, tags: LabelPair[]): string | null {
    const invalid = invalidSeries(name, [...this.base, ...tags].sort(byName))
    if (invalid !== null) {
      this.invalid++
      this.lastInvalid = `${name}: ${invalid}`
    }
    return invalid
  }

  /** Every label of a series, sorted by name as remote write requires. */
  private labels(name: string, tags: LabelPair[]): Label[] {
    return [['__name__', name] as const, ...this.base, ...tags].sort(byName).map(([n, value]) => ({ name: n, value }))
  }
}

function nativeHistogram(s: NativeSeries, schema: number, timestamp: number, stale: boolean): NativeHistogram {
  const [positive_spans, positive_deltas] = spans(s.positive)
  const [negative_spans, negative_deltas] = spans(s.negative)
  return {
    count_int: Math.round(s.count),
    sum: stale ? STALE_NAN : s.sum,
    schema,
    zero_threshold: NATIVE_ZERO_THRESHOLD,
    zero_count_int: Math.round(s.zero),
    positive_spans,
    positive_deltas,
    negative_spans,
    negative_deltas,
    timestamp,
  }
}

/** Sparse buckets -> spans and delta-encoded counts, as native histograms carry them (counts rounded to whole events). */
function spans(buckets: Map<number, number>): [BucketSpan[], number[]] {
  const indexes = [...buckets.keys()].sort((a, b) => a - b)
  const out: BucketSpan[] = []
  const deltas: number[] = []
  let previousIndex = 0
  let previousCount = 0
  for (const index of indexes) {
    const count = Math.round(buckets.get(index)!)
    if (out.length === 0 || index !== previousIndex + 1) out.push({ offset: out.length === 0 ? index : index - previousIndex - 1, length: 1 })
    else out[out.length - 1]!.length++
    deltas.push(count - previousCount)
    previousCount = count
    previousIndex = index
  }
  return [out, deltas]
}
