import os from 'node:os'
import type { FlushHeader, FlushPart, FlushWriter } from '../../aggregate/flush-data'
import type { OtlpBackendConfig } from '../../config/schema'
import type { Logger } from '../../log'
import { HttpPushBackend } from '../http-push'
import { splitTags } from '../tags'
import { exponentialHistogram } from './exponential'
import { attribute, DELTA, encodeExport, type Fixed64, type KeyValue, type Metric, nanos, partialSuccess } from './proto'

/** Rejected data points are logged at most this often. */
const LOG_EVERY_MS = 10_000

/**
 * OTLP/HTTP with protobuf bodies, for OpenTelemetry Collectors: each flush
 * is pushed as ExportMetricsServiceRequests of at most maxDataPoints data
 * points, with delta temporality (each flush carries its own interval, from
 * the previous flush to this one):
 *   counter  a monotonic Sum (not monotonic when the interval's sum is negative)
 *   timer    an ExponentialHistogram in seconds (unit "s")
 *   gauge    a Gauge; a set is a Gauge of the interval's distinct count
 *   own      <prefixStats>.<name> Gauges (processing_time, self-metrics)
 * Names are the statsd names and tags are attributes, as they are. Delivery
 * as remote write (HttpPusher, one flush at a time, in order).
 */
export class OtlpBackend extends HttpPushBackend {
  private readonly resource: KeyValue[]
  private readonly scope = { name: 'statsd-ts', version: '' }
  private lastTimestamp = 0
  private lastRejectLog = -Infinity
  /** Data points a collector refused in otherwise accepted requests. */
  rejectedDataPoints = 0

  constructor(
    private readonly cfg: OtlpBackendConfig,
    private readonly prefixStats: string,
    private readonly log: Logger,
  ) {
    super('otlp', cfg, { 'content-type': 'application/x-protobuf' }, log, (body) => this.accepted(body))
    this.resource = Object.entries({
      'service.name': cfg.serviceName,
      'service.instance.id': cfg.instance ?? os.hostname(),
      ...cfg.resource,
    }).map(([k, v]) => attribute(k, v))
  }

  /** Turns each part into data points as it comes (timers' values are only there during write), then encodes at the end. */
  beginFlush(header: FlushHeader): FlushWriter {
    const end = nanos(header.timestamp)
    const start = nanos(this.lastTimestamp > 0 ? this.lastTimestamp : header.timestamp - header.flushIntervalMs / 1000)
    this.lastTimestamp = header.timestamp
    const metrics = new Metrics(start, end)
    return {
      write: (part) => this.convert(part, metrics),
      end: async (trailer) => {
        metrics.gauge(`${this.prefixStats}.processing_time`, trailer.processingTime)
        for (const m of trailer.selfMetrics) metrics.gauge(`${this.prefixStats}.${m.name}`, m.value)
        await this.push(batches(metrics.all, this.cfg.maxDataPoints), (batch) => Buffer.from(encodeExport(this.resource, this.scope, batch)))
      },
    }
  }

  private convert(part: FlushPart, metrics: Metrics): void {
    for (const c of part.counters) metrics.counter(c.name, c.value)
    const timers = part.timers
    for (let t = 0; t < timers.count; t++) {
      const values = timers.samplesOf(t)
      if (values.length === 0) continue
      const seconds = Float64Array.from(values, (v) => v / 1000)
      metrics.timer(timers.names[t]!, exponentialHistogram(seconds, timers.sampleCounts[t]! / values.length, this.cfg.maxBuckets))
    }
    for (const g of part.gauges) metrics.gauge(g.name, g.value)
    for (const s of part.sets) metrics.gauge(s.name, s.count)
  }

  private accepted(body: Buffer): void {
    const partial = partialSuccess(body)
    if (partial === null) return
    this.rejectedDataPoints += partial.rejected
    const now = Date.now()
    if (now - this.lastRejectLog < LOG_EVERY_MS) return
    this.lastRejectLog = now
    this.log.warn({ rejected: partial.rejected, receiver: partial.message, rejectedDataPoints: this.rejectedDataPoints }, 'data points refused by the collector')
  }
}

/** One flush's metrics: one Metric per name and type, a data point per tag set. */
class Metrics {
  readonly all: Metric[] = []
  private readonly byName = new Map<string, Metric>()

  constructor(
    private readonly start: Fixed64,
    private readonly end: Fixed64,
  ) {}

  counter(metric: string, value: number): void {
    const { name, attributes } = parse(metric)
    const m = this.metric(name, 'sum', () => ({ name, sum: { data_points: [], aggregation_temporality: DELTA, is_monotonic: true } }))
    if (value < 0) m.sum!.is_monotonic = false
    m.sum!.data_points.push({ attributes, start_time_unix_nano: this.start, time_unix_nano: this.end, as_double: value })
  }

  gauge(metric: string, value: number): void {
    const { name, attributes } = parse(metric)
    this.metric(name, 'gauge', () => ({ name, gauge: { data_points: [] } })).gauge!.data_points.push({ attributes, time_unix_nano: this.end, as_double: value })
  }

  timer(metric: string, h: ReturnType<typeof exponentialHistogram>): void {
    const { name, attributes } = parse(metric)
    const m = this.metric(name, 'histogram', () => ({ name, unit: 's', exponential_histogram: { data_points: [], aggregation_temporality: DELTA } }))
    m.exponential_histogram!.data_points.push({
      attributes,
      start_time_unix_nano: this.start,
      time_unix_nano: this.end,
      count: h.count,
      sum: h.sum,
      scale: h.scale,
      zero_count: h.zeroCount,
      positive: h.positive,
      negative: h.negative,
      min: h.min,
      max: h.max,
    })
  }

  private metric(name: string, kind: string, create: () => Metric): Metric {
    const key = `${kind} ${name}`
    let m = this.byName.get(key)
    if (m === undefined) {
      m = create()
      this.byName.set(key, m)
      this.all.push(m)
    }
    return m
  }
}

function parse(metric: string): { name: string; attributes: KeyValue[] } {
  const { base, tags } = splitTags(metric)
  return { name: base, attributes: tags.map(([k, v]) => attribute(k, v)) }
}

const pointsOf = (m: Metric): number =>
  (m.sum?.data_points.length ?? 0) + (m.gauge?.data_points.length ?? 0) + (m.exponential_histogram?.data_points.length ?? 0)

/** The metrics in requests of at most about `limit` data points (a metric is never split). */
function* batches(all: Metric[], limit: number): Generator<Metric[]> {
  let batch: Metric[] = []
  let points = 0
  for (const m of all) {
    const n = pointsOf(m)
    if (points > 0 && points + n > limit) {
      yield batch
      batch = []
      points = 0
    }
    batch.push(m)
    points += n
  }
  if (batch.length > 0) yield batch
}
