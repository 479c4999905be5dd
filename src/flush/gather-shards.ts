import type { FlushCounter, FlushHeader, FlushPart, FlushTrailer, SelfMetric } from '../aggregate/flush-data'
import type { ShardStream, ShardTakes } from '../aggregate/shards/sharded-aggregator'
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
 * are summed into one part sent first, as with one thread, and
 * timestamp_lag is kept from the first shard. Self-metrics are summed by
 * name; processing_time is the longest shard's, since they ran at once.
 *
 * Resolves once every shard has sent its first part (the internal counters
 * are in it).
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
  while (!streams.every((s) => s.ended || s.parts.length > 0)) await nextChange()

  const withHeader = streams.find((s) => s.header !== null)
  const header = withHeader?.header ?? { timestamp: Math.round(Date.now() / 1000), flushIntervalMs: takes.flushIntervalMs }
  const sums = new Map(takes.summedCounters.map((name) => [name, 0]))
  const firstOnly = new Set(takes.firstShardGauges)
  const strip = (stream: ShardStream, part: FlushPart): FlushPart => {
    const counters = part.counters.filter((c) => {
      const sum = sums.get(c.name)
      if (sum === undefined) return true
      sums.set(c.name, sum + c.value)
      return false
    })
    const gauges = stream === withHeader ? part.gauges : part.gauges.filter((g) => !firstOnly.has(g.name))
    return { counters, timers: part.timers, gauges, sets: part.sets }
  }
  // The first parts now, so that the internal counters' sums are complete before they are sent.
  const ready: FlushPart[] = []
  for (const stream of streams) if (stream.parts.length > 0) ready.push(strip(stream, stream.parts.shift()!))
  const perSecond = takes.flushIntervalMs / 1000
  const internal: FlushCounter[] = []
  for (const [name, value] of sums) if (Number.isFinite(value / perSecond)) internal.push({ name, value, rate: value / perSecond })
  ready.unshift({ counters: internal, timers: TimerColumns.empty(), gauges: [], sets: [] })

  return {
    header,
    async nextPart(): Promise<FlushPart | null> {
      for (;;) {
        const next = ready.shift()
        if (next !== undefined) return next
        const stream = streams.find((s) => s.parts.length > 0)
        if (stream !== undefined) return strip(stream, stream.parts.shift()!)
        if (streams.every((s) => s.ended)) return null
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
      }
    },
  }
}

function sumByName(metrics: readonly SelfMetric[]): SelfMetric[] {
  const out = new Map<string, number>()
  for (const { name, value } of metrics) out.set(name, (out.get(name) ?? 0) + value)
  return [...out].map(([name, value]) => ({ name, value }))
}
