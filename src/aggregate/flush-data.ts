import type { TimerStat } from './timer-stats'

/** One flush interval's results, handed to every backend. */
export interface FlushData {
  /** Unix time in seconds, rounded as Etsy does. */
  timestamp: number
  flushIntervalMs: number
  counters: { name: string; value: number; rate: number }[]
  timers: { name: string; stats: TimerStat[] }[]
  gauges: { name: string; value: number }[]
  sets: { name: string; count: number }[]
  /** Etsy's statsd_metrics.processing_time: ms spent computing this flush. */
  processingTime: number
}
