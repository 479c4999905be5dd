/*
 * ServerControl: everything the admin plane (HTTP API, status page, Etsy
 * management console) may see or do on a running server. The composition
 * root (src/server.ts) builds it from the real stages; the admin code knows
 * only these types, so it never reaches into the aggregator's internals and
 * does no work per packet: every figure here is read when asked for.
 */

import type { RecentEventsFigures } from '../aggregate/recent-events'
import type { DogStatsdEvent, ServiceCheck } from '../parse/dogstatsd-events'

export type MetricType = 'counters' | 'timers' | 'gauges' | 'sets'
export const METRIC_TYPES: readonly MetricType[] = ['counters', 'timers', 'gauges', 'sets']

/** The current interval's values, copied: counters and gauges a number, timers their raw values, sets their members. */
export interface MetricTables {
  counters: Map<string, number>
  timers: Map<string, number[]>
  gauges: Map<string, number>
  sets: Map<string, string[]>
}

/** What the aggregator offers the admin plane (implemented by Aggregator). */
export interface MetricStore {
  tables(): MetricTables
  /** Etsy's delete_stats match: the exact name, and for "a.b.*" every name starting with "a.b.". Returns what was deleted. */
  deleteMatching(type: MetricType, pattern: string): string[]
  inspect(): AggregatorFigures
}

/** Cumulative since start, unless said otherwise. */
export interface AggregatorFigures {
  packets: number
  lines: number
  bytes: number
  badLines: number
  badLinesByReason: Record<string, number>
  /** The latest bad lines, oldest first, each cut to a few hundred bytes. */
  recentBadLines: BadLineSample[]
  /** Keys held now, per type. */
  keys: Record<MetricType, number>
  /** The keys that received the most values in the last flush interval that received any, busiest first. */
  busiestKeys: { name: string; values: number }[]
  /** How long computing the last flush took. */
  lastFlushMs: number
  /** DogStatsD events and service checks: counts since start, and the latest kept. */
  events: RecentEventsFigures<DogStatsdEvent>
  serviceChecks: RecentEventsFigures<ServiceCheck>
}

export interface BadLineSample {
  at: number
  reason: string
  line: string
}

/**
 * One listener. Figures a listener does not count yet are left out; the
 * snapshot shape takes them so that each listener kind can add its own.
 */
export interface ListenerStatus {
  description: string
  bound: boolean
  packets?: number
  bytes?: number
  lines?: number
  /** Datagrams the kernel dropped before we read them (SO_RXQ_OVFL / /proc). */
  kernelDrops?: number
  authFailures?: number
  connectionsOpen?: number
  connectionsRefused?: number
  connectionsTimedOut?: number
}

/** One backend, as its own status() reports it; times are Unix milliseconds, 0 for never. */
export interface BackendStatus {
  name: string
  /** Where it sends, e.g. "127.0.0.1:2003" or "stdout". */
  target: string
  lastSuccess: number
  lastFailure: number
  flushesSent: number
  flushesFailed: number
  flushesRetried: number
  /** Attempts reset at their deadline after the receiver acknowledged part of the flush (Graphite): that part may arrive twice. */
  flushesResentInPart: number
  flushesDropped: number
  undeliveredFlushes: number
  undeliveredBytes: number
  /**
   * The [stat, value] pairs Etsy's backend reports on the console's `stats`
   * command (graphite: last_flush, last_exception, flush_time, flush_length),
   * in Etsy's order; a stat whose name starts with "last_" is a Unix time in seconds.
   */
  etsyStatus: [string, number][]
}

/** One flush, as recorded when its results were handed to the backends. */
export interface FlushRecord {
  /** Unix milliseconds. */
  at: number
  durationMs: number
  /** How late the flush ran after its scheduled time. */
  lagMs: number
  packets: number
  lines: number
  bytes: number
  badLines: number
  /** FlushData.selfMetrics of this interval (drops, refusals, auth failures...). */
  selfMetrics: Record<string, number>
}

export type ConfigFormat = 'native' | 'etsy' | 'statsgod'

export interface ServerInfo {
  name: string
  version: string
  commit: string | null
  node: string
  pid: number
  startedAt: number
  configSource: string
  configFormat: ConfigFormat
  flushIntervalMs: number
}

export interface StatusSnapshot {
  info: ServerInfo
  uptimeS: number
  health: HealthState
  ready: Readiness
  queue: { packets: number; bytes: number; maxPackets: number; maxBytes: number }
  aggregator: AggregatorFigures
  /** Sums of every FlushData.selfMetrics value since start, by name. */
  selfTotals: Record<string, number>
  listeners: ListenerStatus[]
  backends: BackendStatus[]
  /** The most recent flushes, oldest first (bounded). */
  flushes: FlushRecord[]
  /** Unix milliseconds of the last interval that received a packet (Etsy's last_msg_seen), at flush resolution. */
  lastMessageSeen: number
}

export interface Readiness {
  ready: boolean
  reasons: string[]
}

export interface HealthState {
  status: 'up' | 'down'
  /** Why it is down ("set down by an operator", "shutting down"); empty when up. */
  reason: string
}

/** Etsy's healthStatus: set by operators and by shutdown; draining cannot be undone. */
export class Health {
  private state: HealthState
  private draining = false

  constructor(initial: 'up' | 'down' = 'up') {
    this.state = initial === 'up' ? { status: 'up', reason: '' } : { status: 'down', reason: 'configured down' }
  }

  get current(): HealthState {
    return this.state
  }

  /** An operator's "health up" / "health down"; ignored for up while shutting down. */
  set(status: 'up' | 'down'): HealthState {
    if (this.draining) return this.state
    this.state = status === 'up' ? { status, reason: '' } : { status, reason: 'set down by an operator' }
    return this.state
  }

  /** SIGTERM: down for good, so load balancers stop sending before the final flush. */
  drain(): void {
    this.draining = true
    this.state = { status: 'down', reason: 'shutting down' }
  }
}

/** The admin plane's whole view of the server. */
export interface ServerControl {
  readonly health: Health
  snapshot(): StatusSnapshot
  tables(): MetricTables
  deleteMatching(type: MetricType, pattern: string): string[]
  /** The effective configuration, for the console's `config` command and /info. */
  readonly config: Readonly<Record<string, unknown>>
}
