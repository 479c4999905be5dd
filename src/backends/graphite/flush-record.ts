import type { FlushHeader, FlushPart, FlushTrailer } from '../../aggregate/flush-data'
import { TimerColumns } from '../../aggregate/timer-columns'

/*
 * A flush as the Graphite backend holds it until Graphite has it: the
 * numbers in typed columns (12 bytes per timer statistic, 24 per counter),
 * the names shared with the key table, instead of its text (about 55 bytes
 * a line: 100k timers × 14 statistics were 81 MB). Each delivery attempt
 * writes the lines again from it as the socket takes them, so a retry
 * sends exactly the same lines.
 */

/** One call the flush loop made on the backend's writer, kept for replay. */
export type FlushStep =
  | { kind: 'header'; header: FlushHeader }
  | { kind: 'part'; part: RecordedPart }
  | { kind: 'end'; trailer: FlushTrailer; calculationTime: number }

/** Bytes a step holds besides its columns (objects, array headers): for the outbox's bound. */
const STEP_BYTES = 256
/** A reference in an array (no pointer compression in Node here). */
const REF = 8

/** A copy of one part of a flush (whose arrays the flush loop reuses), in columns. */
export class RecordedPart {
  private readonly counterNames: string[]
  private readonly counterValues: Float64Array
  private readonly counterRates: Float64Array
  private readonly timers: TimerColumns
  private readonly gaugeNames: string[]
  private readonly gaugeValues: Float64Array
  private readonly setNames: string[]
  private readonly setCounts: Float64Array
  /** What it holds, roughly. */
  readonly bytes: number

  constructor(part: FlushPart) {
    const { counters, timers, gauges, sets } = part
    this.counterNames = counters.map((c) => c.name)
    this.counterValues = Float64Array.from(counters, (c) => c.value)
    this.counterRates = Float64Array.from(counters, (c) => c.rate)
    // Only what Graphite prints: names, statistics and values (no raw samples).
    const copy = new TimerColumns(timers.statNames, 0)
    copy.names = timers.names.slice()
    copy.histograms = timers.histograms.slice()
    copy.ends = timers.ends.slice()
    copy.ids = timers.ids.slice(0, timers.length)
    copy.values = timers.values.slice(0, timers.length)
    copy.length = timers.length
    this.timers = copy
    this.gaugeNames = gauges.map((g) => g.name)
    this.gaugeValues = Float64Array.from(gauges, (g) => g.value)
    this.setNames = sets.map((s) => s.name)
    this.setCounts = Float64Array.from(sets, (s) => s.count)
    this.bytes =
      STEP_BYTES +
      counters.length * (REF + 16) +
      timers.count * 3 * REF +
      timers.length * 12 +
      (gauges.length + sets.length) * (REF + 8)
  }

  /** The part again, as the formatters take it: its objects are garbage once it is written. */
  toPart(): FlushPart {
    return {
      counters: this.counterNames.map((name, i) => ({ name, value: this.counterValues[i]!, rate: this.counterRates[i]! })),
      timers: this.timers,
      gauges: this.gaugeNames.map((name, i) => ({ name, value: this.gaugeValues[i]! })),
      sets: this.setNames.map((name, i) => ({ name, count: this.setCounts[i]! })),
    }
  }
}

export function headerStep(header: FlushHeader): [FlushStep, number] {
  return [{ kind: 'header', header: { timestamp: header.timestamp, flushIntervalMs: header.flushIntervalMs } }, STEP_BYTES]
}

export function partStep(part: FlushPart): [FlushStep, number] {
  const recorded = new RecordedPart(part)
  return [{ kind: 'part', part: recorded }, recorded.bytes]
}

/** The trailer, with the time the flush took to compute fixed now, so that a retry prints the same number. */
export function endStep(trailer: FlushTrailer, calculationTime: number): [FlushStep, number] {
  const kept: FlushTrailer = { processingTime: trailer.processingTime, selfMetrics: trailer.selfMetrics.map((m) => ({ name: m.name, value: m.value })) }
  if (trailer.points !== undefined) kept.points = trailer.points
  return [{ kind: 'end', trailer: kept, calculationTime }, STEP_BYTES + kept.selfMetrics.length * 64 + (trailer.points?.length ?? 0) * 64]
}
