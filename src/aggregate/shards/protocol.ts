import type { MessagePort } from 'node:worker_threads'
import type { Config } from '../../config/schema'
import type { MetricType } from '../../core/server-control'
import type { AggregatorConfig, ReloadableAggregatorConfig, ReloadedSettings } from '../aggregator'
import type { FlushHeader, FlushPart, FlushTrailer } from '../flush-data'
import { NameBytes, type WireNames } from '../name-bytes'
import { PartRows } from '../part-rows'
import { TimerColumns } from '../timer-columns'
import type { Lane } from './lanes'

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
  /** Int32 per shard: its parts of a flush posted and not yet taken by the main thread (parts-ahead.ts). */
  partsAhead: SharedArrayBuffer
  syncPort: MessagePort
  summedCounters: string[]
  firstShardGauges: string[]
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
  /** `epoch`: the interval that starts with this take; its lane records wait until it (epoch.ts). */
  | { t: 'take'; nowMs: number; timerValues: boolean; epoch: number }
  | { t: 'badLines'; count: number }
  /** `generation`: reported back with the header of the take that puts it in effect (reload-in-effect.ts). */
  | { t: 'reconfigure'; config: ReloadableAggregatorConfig; generation: number }
  | { t: 'describe'; descriptions: string[] }
  | { t: 'ask'; question: Question }
  /** A reader thread's lane to this shard (lanes.ts): read it when the doorbell rings. */
  | { t: 'lane'; lane: Lane }

export type FromShard =
  /** Its Aggregator is built (modules loaded): the first flush will not wait for that. Its doorbell (lanes.ts), -1 without the addon. */
  | { t: 'ready'; doorbell: number }
  /** `reloaded`: this take put the reload of that generation in effect. */
  | { t: 'header'; header: FlushHeader; reloaded?: { generation: number; settings: ReloadedSettings } }
  | { t: 'part'; part: WirePart }
  /** `sums`: this shard's values of the counters every shard keeps (SharedNames). */
  | { t: 'done'; trailer: FlushTrailer; sums: Record<string, number> }

/**
 * A flush part as it travels: columns, names as UTF-8 bytes in shared
 * memory (name-bytes.ts), which the main thread hands on as they are.
 * Structured cloning an object per metric cost more than computing the
 * flush; typed arrays copy in bulk.
 */
export interface WirePart {
  counterNames: WireNames
  counterValues: Float64Array
  counterRates: Float64Array
  gaugeNames: WireNames
  gaugeValues: Float64Array
  setNames: WireNames
  setCounts: Float64Array
  timers: {
    statNames: readonly string[]
    names: WireNames
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

/**
 * What every shard keeps a copy of: the internal counters, summed across
 * shards by the gatherer (so each shard sends them apart, in `done`), and
 * timestamp_lag, sent by shard 0 only.
 */
export interface SharedNames {
  summedCounters: ReadonlySet<string>
  firstShardGauges: ReadonlySet<string>
}

/**
 * `part` as columns, and the buffers to transfer with it; the summed
 * counters go into `sums` instead. Columns of this part's own are views of
 * their whole buffers (transferred, not copied again).
 */
export function encodePart(part: FlushPart, shard: number, shared: SharedNames, sums: Record<string, number>): { wire: WirePart; transfer: ArrayBuffer[] } {
  const counterNames: string[] = []
  const counterValues = new Float64Array(part.counters.length)
  const counterRates = new Float64Array(part.counters.length)
  for (const c of part.counters) {
    if (shared.summedCounters.has(c.name)) {
      sums[c.name] = (sums[c.name] ?? 0) + c.value
      continue
    }
    counterValues[counterNames.length] = c.value
    counterRates[counterNames.length] = c.rate
    counterNames.push(c.name)
  }
  const gaugeNames: string[] = []
  const gaugeValues = new Float64Array(part.gauges.length)
  for (const g of part.gauges) {
    if (shard !== 0 && shared.firstShardGauges.has(g.name)) continue
    gaugeValues[gaugeNames.length] = g.value
    gaugeNames.push(g.name)
  }
  const setNames: string[] = []
  const setCounts = new Float64Array(part.sets.length)
  for (const x of part.sets) {
    setCounts[setNames.length] = x.count
    setNames.push(x.name)
  }
  const t = part.timers
  const histograms = new Uint8Array(t.histograms.length)
  for (let i = 0; i < histograms.length; i++) histograms[i] = t.histograms[i] === true ? 1 : 0
  const wire: WirePart = {
    counterNames: NameBytes.encode(counterNames).toWire(),
    counterValues: counterValues.subarray(0, counterNames.length),
    counterRates: counterRates.subarray(0, counterNames.length),
    gaugeNames: NameBytes.encode(gaugeNames).toWire(),
    gaugeValues: gaugeValues.subarray(0, gaugeNames.length),
    setNames: NameBytes.encode(setNames).toWire(),
    setCounts,
    timers: {
      statNames: t.statNames,
      names: NameBytes.encode(t.names).toWire(),
      histograms,
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
  // The names' bytes are shared memory (not transferred); their ends are transferred.
  for (const names of [wire.counterNames, wire.gaugeNames, wire.setNames, w.names]) arrays.push(names.ends)
  return { wire, transfer: arrays.map((a) => a.buffer as ArrayBuffer) }
}

/** Turns received parts back into FlushParts, in rows reused from one part to the next (PartRows). */
export class PartDecoder {
  private readonly rows = new PartRows()

  decode(wire: WirePart): FlushPart {
    return this.rows.part(
      {
        counterNames: NameBytes.from(wire.counterNames),
        counterValues: wire.counterValues,
        counterRates: wire.counterRates,
        gaugeNames: NameBytes.from(wire.gaugeNames),
        gaugeValues: wire.gaugeValues,
        setNames: NameBytes.from(wire.setNames),
        setCounts: wire.setCounts,
      },
      decodeTimers(wire.timers),
    )
  }
}

function decodeTimers(w: WirePart['timers']): TimerColumns {
  const timers = new TimerColumns(w.statNames, 0)
  timers.nameBytes = NameBytes.from(w.names)
  timers.histograms = plainArray(w.histograms, (h) => h === 1)
  timers.ends = plainArray(w.ends, Number)
  timers.ids = w.ids
  timers.values = w.values
  timers.length = w.ids.length
  timers.keepSamples = w.keepSamples
  timers.samples = w.samples
  timers.sampleEnds = plainArray(w.sampleEnds, Number)
  timers.sampleCounts = plainArray(w.sampleCounts, Number)
  return timers
}

/**
 * A typed array's elements in an Array, by index: Array.from iterates, and
 * its iterator results were the main thread's largest garbage after the
 * flush's names (workers > 1, 100k timers).
 */
function plainArray<T>(from: ArrayLike<number>, map: (v: number) => T): T[] {
  const out = new Array<T>(from.length)
  for (let i = 0; i < from.length; i++) out[i] = map(from[i]!)
  return out
}
