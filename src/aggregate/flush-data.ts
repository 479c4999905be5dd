import type { DogStatsdEvent, ServiceCheck } from '../parse/dogstatsd-events'
import type { NameBytes } from './name-bytes'
import type { TimestampedPoint } from './timestamped-points'
import { type TimerEntry, TimerColumns } from './timer-columns'

/*
 * One flush interval's results. The aggregator takes an interval at the
 * flush instant and computes it in parts, so that a large flush never holds
 * the event loop: each receiver is handed the header, then the parts in
 * order (every counter, then timers, gauges, sets), then the trailer.
 * FlushData is the same flush in one piece (tests, and receivers that need it whole).
 */

export interface FlushHeader {
  /** Unix time in seconds, rounded as Etsy does. */
  timestamp: number
  flushIntervalMs: number
}

export interface FlushCounter {
  name: string
  value: number
  rate: number
}
export interface FlushGauge {
  name: string
  value: number
}
export interface FlushSet {
  name: string
  count: number
}

interface Metrics<Timers> {
  counters: FlushCounter[]
  timers: Timers
  gauges: FlushGauge[]
  sets: FlushSet[]
}

/**
 * Some of a flush's metrics; concatenated in order, the parts give the whole
 * flush. The timers' statistics are in flat arrays (no object per statistic).
 * Its arrays and rows are reused for the next part: copy what must outlive
 * the write.
 */
export type FlushPart = Metrics<TimerColumns> & {
  /**
   * The counters', gauges' and sets' names as bytes, when the part came so
   * (a shard's, with workers > 1): a receiver that writes bytes can copy
   * them; the rows' `name`s are made from them only when read.
   */
  names?: PartNames
}

export interface PartNames {
  counters: NameBytes
  gauges: NameBytes
  sets: NameBytes
}

/** All of a flush's metrics, each timer's statistics as [name, value] pairs. */
export type FlushMetrics = Metrics<TimerEntry[]>

export interface FlushTrailer {
  /** Etsy's statsd_metrics.processing_time: ms spent computing this flush's statistics. */
  processingTime: number
  /**
   * The server's own figures for this interval (drops, refused clients, auth
   * failures...), named relative to prefixStats ("queue.dropped_packets").
   * Backends send them beside processing_time and outside numStats, so that
   * every number Etsy sends stays identical.
   */
  selfMetrics: SelfMetric[]
  /** DogStatsD events and service checks received in the interval, for backends that have a place for them (absent: none). */
  events?: DogStatsdEvent[]
  serviceChecks?: ServiceCheck[]
  /**
   * Values that came with a client timestamp (DogStatsD `T`), as points at
   * their own times, never part of this flush's metrics or numStats; for
   * backends that store points at a given time (absent: none).
   */
  points?: TimestampedPoint[]
}

/** One flush interval's results in one piece. */
export interface FlushData extends FlushHeader, FlushMetrics, FlushTrailer {}

export interface SelfMetric {
  name: string
  value: number
}

/**
 * Receives one flush as it is computed. `write` runs inside the flush's
 * time slice, so it must only format (into Buffers) what it is given, never
 * wait, and must not keep the part: its arrays are reused for the next one.
 * `end` resolves once the flush is queued for delivery.
 */
export interface FlushWriter {
  write(part: FlushPart): void
  end(trailer: FlushTrailer): Promise<void>
}

/** A FlushWriter that gathers the parts, for a receiver that needs the flush whole. */
export function gatherFlush(header: FlushHeader, whole: (data: FlushData) => Promise<void>): FlushWriter {
  const data: FlushData = { ...header, counters: [], timers: [], gauges: [], sets: [], processingTime: 0, selfMetrics: [] }
  return {
    write: (part) => appendPart(data, part),
    end(trailer) {
      data.processingTime = trailer.processingTime
      data.selfMetrics = trailer.selfMetrics
      data.events = trailer.events
      data.serviceChecks = trailer.serviceChecks
      data.points = trailer.points
      return whole(data)
    },
  }
}

/** Adds copies of a part's metrics to `data`, after those it has. */
export function appendPart(data: FlushMetrics, part: FlushPart): void {
  for (const c of part.counters) data.counters.push({ name: c.name, value: c.value, rate: c.rate })
  for (const t of part.timers.entries()) data.timers.push(t)
  for (const g of part.gauges) data.gauges.push({ name: g.name, value: g.value })
  for (const s of part.sets) data.sets.push({ name: s.name, count: s.count })
}

/** Hands a whole flush to a writer in one part. */
export function writeWhole(begin: (header: FlushHeader) => FlushWriter, data: FlushData): Promise<void> {
  const writer = begin(data)
  writer.write(asPart(data))
  return writer.end(data)
}

/** The whole form's metrics as one part. */
export function asPart(data: FlushMetrics): FlushPart {
  return { counters: data.counters, timers: TimerColumns.from(data.timers), gauges: data.gauges, sets: data.sets }
}
