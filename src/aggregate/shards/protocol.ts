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
  | { t: 'part'; part: FlushPart }
  | { t: 'done'; trailer: FlushTrailer }

/**
 * A part as it travels: TimerColumns' arrays cut to their length (the
 * class's methods do not survive the copy, so the receiver rebuilds it).
 */
export function partForTransfer(part: FlushPart): FlushPart {
  const timers = part.timers
  const copy = {
    statNames: timers.statNames,
    names: timers.names,
    histograms: timers.histograms,
    ends: timers.ends,
    ids: timers.ids.slice(0, timers.length),
    values: timers.values.slice(0, timers.length),
    length: timers.length,
    keepSamples: timers.keepSamples,
    samples: timers.keepSamples ? timers.samples.slice(0, timers.sampleEnds[timers.sampleEnds.length - 1] ?? 0) : new Float64Array(0),
    sampleEnds: timers.sampleEnds,
    sampleCounts: timers.sampleCounts,
  }
  return { counters: part.counters, timers: copy as unknown as TimerColumns, gauges: part.gauges, sets: part.sets }
}

/** A part received from a shard, with its TimerColumns whole again. */
export function partReceived(part: FlushPart): FlushPart {
  const timers = Object.assign(new TimerColumns(part.timers.statNames, 0), part.timers)
  return { counters: part.counters, timers, gauges: part.gauges, sets: part.sets }
}
