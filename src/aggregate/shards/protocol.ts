import type { MessagePort } from 'node:worker_threads'
import type { Config } from '../../config/schema'
import type { MetricType } from '../../core/server-control'
import type { AggregatorConfig, ReloadableAggregatorConfig } from '../aggregator'
import type { FlushHeader, FlushPart, FlushTrailer } from '../flush-data'
import { TimerColumns } from '../timer-columns'

/* The messages between the main thread and a shard's worker thread. */

export interface ShardWorkerData {
  shard: number
  config: AggregatorConfig
  log: Config['log']
  /** Int32 per shard: bytes handed to it and not yet ingested (the hand-off's bound). */
  pending: SharedArrayBuffer
  /** Int32 per shard: bytes of its ring handed to it and not yet given back (ring.ts). */
  ringUsed: SharedArrayBuffer
  ring: SharedArrayBuffer
  /** Int32 per shard: set to 1 once an answer waits on syncPort. */
  answered: SharedArrayBuffer
  syncPort: MessagePort
}

/** Questions answered synchronously (the admin plane's figures). */
export type Question =
  | { what: 'tables' }
  | { what: 'inspect' }
  | { what: 'listenerTotals' }
  | { what: 'deleteMatching'; type: MetricType; pattern: string }

export type ToShard =
  /** Lines in the ring at [start, start + length) (`skip` ring bytes before them), or in a transferred buffer of their own. */
  | { t: 'lines'; start: number; length: number; skip: number; segments: Int32Array; buffer: ArrayBuffer | null }
  | { t: 'take'; nowMs: number; timerValues: boolean }
  | { t: 'badLines'; count: number }
  | { t: 'reconfigure'; config: ReloadableAggregatorConfig }
  | { t: 'describe'; descriptions: string[] }
  | { t: 'ask'; question: Question }

export type FromShard =
  | { t: 'header'; header: FlushHeader }
  | { t: 'part'; part: WirePart }
  | { t: 'done'; trailer: FlushTrailer }

/**
 * A flush part as it travels: columns, names joined by newlines (a name
 * never holds one). Structured cloning an object per metric cost more
 * than computing the flush; strings and typed arrays copy in bulk.
 */
export interface WirePart {
  counterNames: string
  counterValues: Float64Array
  counterRates: Float64Array
  gaugeNames: string
  gaugeValues: Float64Array
  setNames: string
  setCounts: Float64Array
  timers: {
    statNames: readonly string[]
    names: string
    histograms: Uint8Array
    ends: Int32Array
    ids: Int32Array
    values: Float64Array
    keepSamples: boolean
    samples: Float64Array<ArrayBuffer>
    sampleEnds: Int32Array
    sampleCounts: Float64Array
  }
}

/** `part` as columns, and the buffers to transfer with it. */
export function encodePart(part: FlushPart): { wire: WirePart; transfer: ArrayBuffer[] } {
  const t = part.timers
  const wire: WirePart = {
    counterNames: part.counters.map((c) => c.name).join('\n'),
    counterValues: Float64Array.from(part.counters, (c) => c.value),
    counterRates: Float64Array.from(part.counters, (c) => c.rate),
    gaugeNames: part.gauges.map((g) => g.name).join('\n'),
    gaugeValues: Float64Array.from(part.gauges, (g) => g.value),
    setNames: part.sets.map((x) => x.name).join('\n'),
    setCounts: Float64Array.from(part.sets, (x) => x.count),
    timers: {
      statNames: t.statNames,
      names: t.names.join('\n'),
      histograms: Uint8Array.from(t.histograms, Number),
      ends: Int32Array.from(t.ends),
      ids: t.ids.slice(0, t.length),
      values: t.values.slice(0, t.length),
      keepSamples: t.keepSamples,
      samples: t.keepSamples ? t.samples.slice(0, t.sampleEnds[t.sampleEnds.length - 1] ?? 0) : new Float64Array(0),
      sampleEnds: Int32Array.from(t.sampleEnds),
      sampleCounts: Float64Array.from(t.sampleCounts),
    },
  }
  const w = wire.timers
  const arrays = [wire.counterValues, wire.counterRates, wire.gaugeValues, wire.setCounts, w.histograms, w.ends, w.ids, w.values, w.samples, w.sampleEnds, w.sampleCounts]
  return { wire, transfer: arrays.map((a) => a.buffer as ArrayBuffer) }
}

function names(joined: string, count: number): string[] {
  return count === 0 ? [] : joined.split('\n')
}

/** A part received from a shard, whole again. */
export function decodePart(wire: WirePart): FlushPart {
  const counterNames = names(wire.counterNames, wire.counterValues.length)
  const gaugeNames = names(wire.gaugeNames, wire.gaugeValues.length)
  const setNames = names(wire.setNames, wire.setCounts.length)
  const w = wire.timers
  const timers = new TimerColumns(w.statNames, 0)
  timers.names = names(w.names, w.ends.length)
  timers.histograms = Array.from(w.histograms, Boolean)
  timers.ends = Array.from(w.ends)
  timers.ids = w.ids
  timers.values = w.values
  timers.length = w.ids.length
  timers.keepSamples = w.keepSamples
  timers.samples = w.samples
  timers.sampleEnds = Array.from(w.sampleEnds)
  timers.sampleCounts = Array.from(w.sampleCounts)
  return {
    counters: counterNames.map((name, i) => ({ name, value: wire.counterValues[i]!, rate: wire.counterRates[i]! })),
    timers,
    gauges: gaugeNames.map((name, i) => ({ name, value: wire.gaugeValues[i]! })),
    sets: setNames.map((name, i) => ({ name, count: wire.setCounts[i]! })),
  }
}
