import type { FlushCounter, FlushHeader, FlushPart, FlushTrailer, SelfMetric } from '../aggregate/flush-data'
import { PartDecoder } from '../aggregate/shards/protocol'
import type { ShardTakes } from '../aggregate/shards/sharded-aggregator'
import { TimerColumns } from '../aggregate/timer-columns'

/** One flush interval as the loop hands it to receivers: a header, parts, a trailer (TakenInterval is one). */
export interface IntervalParts {
  readonly header: FlushHeader
  nextPart(): FlushPart | null | Promise<FlushPart | null>
  finish(): FlushTrailer | Promise<FlushTrailer>
}

/**
 * Every shard's part of one flush, as one flush: one header, the parts of
 * every shard as they come (shards share no keys, so nothing is merged),
 * one trailer. Only what every shard keeps a copy of is put together: the
 * internal counters (bad_lines_seen, packets_received, metrics_received)
 * are summed into one part, sent last; timestamp_lag comes from shard 0
 * only. Self-metrics are summed by name; processing_time is the longest
 * shard's, since they ran at once.
 *
 * Resolves once every shard has sent its header (or died).
 */
export async function gatherShards(takes: ShardTakes): Promise<IntervalParts> {
  const { streams } = takes
  let changed: (() => void) | null = null
  const nextChange = (): Promise<void> => new Promise((resolve) => (changed = resolve))
  for (const stream of streams) {
    stream.onChange = () => {
      const wake = changed
      changed = null
      wake?.()
    }
  }
  while (!streams.every((s) => s.ended || s.header !== null)) await nextChange()
  const header = streams.find((s) => s.header !== null)?.header ?? { timestamp: Math.round(Date.now() / 1000), flushIntervalMs: takes.flushIntervalMs }
  const decoder = new PartDecoder()
  let internalSent = false
  const internal = (): FlushPart => {
    const perSecond = takes.flushIntervalMs / 1000
    const counters: FlushCounter[] = []
    for (const name of takes.summedCounters) {
      const value = streams.reduce((sum, s) => sum + (s.sums[name] ?? 0), 0)
      if (Number.isFinite(value / perSecond)) counters.push({ name, value, rate: value / perSecond })
    }
    return { counters, timers: TimerColumns.empty(), gauges: [], sets: [] }
  }

  return {
    header,
    async nextPart(): Promise<FlushPart | null> {
      for (;;) {
        const stream = streams.find((s) => s.parts.length > 0)
        if (stream !== undefined) return decoder.decode(stream.takePart()!)
        if (streams.every((s) => s.ended)) {
          if (internalSent) return null
          internalSent = true
          return internal()
        }
        await nextChange()
      }
    },
    finish(): FlushTrailer {
      const trailers = streams.flatMap((s) => (s.trailer === null ? [] : [s.trailer]))
      const selfMetrics = sumByName([...trailers.flatMap((t) => t.selfMetrics), ...takes.selfMetrics])
      return {
        processingTime: Math.max(0, ...trailers.map((t) => t.processingTime)),
        selfMetrics,
        events: trailers.flatMap((t) => t.events ?? []),
        serviceChecks: trailers.flatMap((t) => t.serviceChecks ?? []),
        // Shards share no names, so no point is merged with another shard's; oldest first, as one aggregator sends them.
        points: trailers.flatMap((t) => t.points ?? []).sort((a, b) => a.timestamp - b.timestamp),
      }
    },
  }
}

function sumByName(metrics: readonly SelfMetric[]): SelfMetric[] {
  const out = new Map<string, number>()
  for (const { name, value } of metrics) out.set(name, (out.get(name) ?? 0) + value)
  return [...out].map(([name, value]) => ({ name, value }))
}
