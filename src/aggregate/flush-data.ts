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
  /**
   * The server's own figures for this interval (drops, refused clients, auth
   * failures...), named relative to prefixStats ("queue.dropped_packets").
   * Backends send them beside processing_time and outside numStats, so that
   * every number Etsy sends stays identical.
   */
  selfMetrics: SelfMetric[]
}

export interface SelfMetric {
  name: string
  value: number
}
