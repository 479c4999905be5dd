import type { DogStatsdEvent, ServiceCheck } from '../parse/dogstatsd-events'
import type { TimestampedPoint } from './timestamped-points'
import { performance } from 'node:perf_hooks'
import type { Logger } from '../log'
import {
  appendPart,
  type FlushCounter,
  type FlushData,
  type FlushGauge,
  type FlushHeader,
  type FlushPart,
  type FlushSet,
  type FlushTrailer,
  type SelfMetric,
} from './flush-data'
import type { TakenCounters } from './counter-table'
import type { TimerTable } from './timer-table'
import { TimerColumns } from './timer-columns'
import type { TimerStatsCalculator } from './timer-stats'

export type TimerStatistics = Pick<TimerStatsCalculator, 'binsFor' | 'compute' | 'statNames'>

/**
 * Work in one part: metrics plus timer values. About a millisecond of
 * statistics and formatting, so a slice of the flush stays short however
 * the keys are spread over types.
 */
const PART_WORK = 2048
/** Names listed in the per-flush warning about statistics that were not finite. */
const NON_FINITE_NAMES_LOGGED = 20
const NO_COUNTERS: TakenCounters = { entries: [], values: new Float64Array(0), count: 0 }

/**
 * One flush interval, taken from the aggregator at the flush instant: the
 * counters', gauges' and sets' values copied, the timers' values moved
 * aside in their table without copying as they are reached (see
 * TimerTable). Ingest goes on into fresh state meanwhile; the
 * statistics are computed here part by part (nextPart), as slowly as the
 * flush loop asks for them.
 */
export class TakenInterval {
  readonly header: FlushHeader
  /** The counters' keys and values, copied at the instant (CounterTable.take). */
  counters: TakenCounters = NO_COUNTERS
  readonly gaugeNames: string[] = []
  readonly gaugeValues: number[] = []
  readonly setNames: string[] = []
  readonly setCounts: number[] = []
  /** Self-metrics taken at the flush instant (token refusals). */
  readonly selfMetrics: SelfMetric[] = []
  /** DogStatsD events and service checks received in the interval (rate-limited). */
  events: DogStatsdEvent[] = []
  serviceChecks: ServiceCheck[] = []
  /** Values with a client timestamp received in the interval, as points at their times. */
  points: TimestampedPoint[] = []
  private counter = 0
  private timersLeft = true
  /** The next timer's index. */
  private timer = 0
  private choresLeft = true
  private gauge = 0
  private set = 0
  private computeMs = 0
  private readonly notFinite: string[] = []
  /**
   * Every part's timer statistics, reused: a part is only read while it is
   * written (FlushWriter.write), and new typed arrays for each part would
   * count as external memory, which makes V8 collect the whole heap.
   */
  private readonly timerColumns: TimerColumns
  /**
   * The rows of a part's counters, gauges and sets, reused in every part for
   * the same reason as timerColumns: at 100k keys, a new object per metric
   * per flush was most of what the server allocated (25 MB a second), and
   * kept V8's young generation at its largest.
   */
  private readonly counterRows: FlushCounter[] = []
  private readonly gaugeRows: FlushGauge[] = []
  private readonly setRows: FlushSet[] = []

  constructor(
    timestamp: number,
    private readonly flushIntervalMs: number,
    private readonly timerStats: TimerStatistics,
    private readonly log: Logger,
    /** Every timer, live: this flush goes through the first `timerCount` (those there at the instant) that are still live. */
    private readonly timers: TimerTable,
    private readonly timerCount: number,
    /** Called with each timer's index once its values are computed (the delete rules). */
    private readonly onTimerDone: (timer: number) => void,
    /** The aggregator's own chores after the metrics (forgetting deleted names, busiest keys), a step at a time. */
    private readonly chores: Iterator<void>,
    /** Told how long the interval took from its instant to its last part, in ms. */
    private readonly onFinished: (ms: number) => void,
    /** Whether each part carries the timers' raw values too (a backend buckets them). */
    timerValues = false,
    private readonly takenAt = performance.now(),
  ) {
    this.header = { timestamp, flushIntervalMs }
    this.timerColumns = new TimerColumns(timerStats.statNames, 4 * PART_WORK)
    this.timerColumns.keepSamples = timerValues
  }

  /** The next metrics in flush order (counters, timers, gauges, sets), or null once all were given. */
  nextPart(): FlushPart | null {
    this.timerColumns.clear()
    const part: FlushPart = { counters: [], timers: this.timerColumns, gauges: [], sets: [] }
    let work = 0
    const started = performance.now()
    const perSecond = this.flushIntervalMs / 1000
    const counters = this.counters
    for (; this.counter < counters.count && work < PART_WORK; this.counter++, work++) {
      // Finite inputs can still add up to Infinity (a rate over a sub-second
      // interval): such a statistic is left out and logged, never sent.
      const name = counters.entries[this.counter]!.name
      const value = counters.values[this.counter]!
      const rate = value / perSecond
      if (Number.isFinite(rate)) {
        let row = this.counterRows[part.counters.length]
        if (row === undefined) this.counterRows.push((row = { name, value, rate }))
        else {
          row.name = name
          row.value = value
          row.rate = rate
        }
        part.counters.push(row)
      } else this.notFinite.push(name)
    }
    const table = this.timers
    while (this.timersLeft && work < PART_WORK) {
      if (this.timer === this.timerCount) {
        this.timersLeft = false
        table.finishedReading()
        break
      }
      const t = this.timer++
      if (!table.isLive(t)) continue
      table.take(t)
      const values = table.taken(t)
      const count = table.takenCount(t)
      const name = table.name(t)
      const timers = part.timers
      const first = timers.length
      this.timerStats.compute(values, count, this.flushIntervalMs, table.binsOf(t), timers)
      for (let i = first; i < timers.length; i++) {
        if (Number.isFinite(timers.values[i]!)) continue
        timers.dropNonFinite(first, (stat) => this.notFinite.push(`${name}.${stat}`))
        break
      }
      if (timers.keepSamples) timers.pushSamples(values, count)
      timers.endTimer(name, table.isHistogram(t))
      work += 1 + values.length
      this.onTimerDone(t)
      table.release(t)
    }
    this.computeMs += performance.now() - started
    for (; this.gauge < this.gaugeNames.length && work < PART_WORK; this.gauge++, work++) {
      const name = this.gaugeNames[this.gauge]!
      const value = this.gaugeValues[this.gauge]!
      let row = this.gaugeRows[part.gauges.length]
      if (row === undefined) this.gaugeRows.push((row = { name, value }))
      else {
        row.name = name
        row.value = value
      }
      part.gauges.push(row)
    }
    for (; this.set < this.setNames.length && work < PART_WORK; this.set++, work++) {
      const name = this.setNames[this.set]!
      const count = this.setCounts[this.set]!
      let row = this.setRows[part.sets.length]
      if (row === undefined) this.setRows.push((row = { name, count }))
      else {
        row.name = name
        row.count = count
      }
      part.sets.push(row)
    }
    while (this.choresLeft && work < PART_WORK) {
      this.choresLeft = this.chores.next().done !== true
      work += 1024
    }
    return work > 0 ? part : null
  }

  /** Once every part was taken: processing time and self-metrics. */
  finish(): FlushTrailer {
    if (this.notFinite.length > 0) {
      this.log.warn(
        { count: this.notFinite.length, metrics: this.notFinite.slice(0, NON_FINITE_NAMES_LOGGED) },
        'statistics that are not finite numbers were not sent',
      )
    }
    this.onFinished(performance.now() - this.takenAt)
    return {
      processingTime: Math.round(this.computeMs),
      selfMetrics: this.selfMetrics,
      events: this.events,
      serviceChecks: this.serviceChecks,
      points: this.points,
    }
  }

  /** Every part at once, as one FlushData. */
  all(): FlushData {
    const data: FlushData = { ...this.header, counters: [], timers: [], gauges: [], sets: [], processingTime: 0, selfMetrics: [] }
    for (let part = this.nextPart(); part !== null; part = this.nextPart()) appendPart(data, part)
    return Object.assign(data, this.finish())
  }
}
