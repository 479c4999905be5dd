import type { ReloadableSettings } from '../config/reloadable'
import type { Config } from '../config/schema'
import type { AggregatorFigures, MetricStore, MetricTables, MetricType } from '../core/server-control'
import type { Logger } from '../log'
import { type DogStatsdEvent, type ServiceCheck, parseEvent, parseServiceCheck } from '../parse/dogstatsd-events'
import { buildKeyName } from '../parse/key-name'
import { type CounterColumn, type CountingSink, NativePacketParser, nativeLineParsing } from '../parse/native-parser'
import { type BadLineReason, DogStatsdLine, MetricType as ParsedType, PacketParser } from '../parse/packet-parser'
import { DatagramBatch, type Packet } from '../parse/packets'
import { type KeyGate, MISSING_TOKEN, type NameResolver, type Rejection } from './auth/key-gate'
import { OpenGate } from './auth/none'
import { AuthRejections, lineWithTokenMasked } from './auth/rejections'
import { TokenGate } from './auth/token'
import type { FlushData } from './flush-data'
import { BadLineLog, busiestKeys, matchingNames } from './inspection'
import { CounterTable } from './counter-table'
import { RecentEvents } from './recent-events'
import { GaugeTable } from './gauge-table'
import { SetTable } from './set-table'
import { KeyEntry } from './slots'
import { TimerTable } from './timer-table'
import { StatsgodTimerStats } from './statsgod-timer-stats'
import { TakenInterval, type TimerStatistics } from './interval'
import { TimerStatsCalculator } from './timer-stats'
import { type PointRefusal, TimestampedPoints } from './timestamped-points'

/*
 * Rolls parsed values up per flush interval, with Etsy statsd 0.9's rules for
 * what is kept, reset or deleted between flushes. Single-threaded by design:
 * it is only ever called from the aggregator loop.
 */

/** Bad lines logged in full per flush interval; the rest are only counted. */
const BAD_LINES_LOGGED_PER_FLUSH = 20
const LOGGED_LINE_BYTES = 200
/** Etsy's internal counters: created first, so they come first in every flush, and never deleted. */
const BAD_LINES = 0
const PACKETS_RECEIVED = 1
const METRICS_RECEIVED = 2
const INTERNAL_COUNTERS = 3
/** The KeyEntry field that holds a metric's index in its type's table. */
const TYPE_INDEX = { counters: 'counter', timers: 'timer', gauges: 'gauge', sets: 'set' } as const

export type AggregatorConfig = Pick<
  Config,
  | 'flushInterval'
  | 'percentThreshold'
  | 'histogram'
  | 'calculatedTimerMetrics'
  | 'deleteIdleStats'
  | 'deleteCounters'
  | 'deleteTimers'
  | 'deleteSets'
  | 'deleteGauges'
  | 'gaugesMaxTTL'
  | 'prefixStats'
  | 'keyNameSanitize'
  | 'timerStatistics'
  | 'auth'
> & {
  /** Limits for DogStatsD events and service checks (defaults: the config's). */
  dogstatsd?: Config['dogstatsd']
  dumpMessages: boolean
  listeners: readonly { auth?: 'none' | 'token' | undefined }[]
  /** false: the JavaScript parser reads every line, even with the addon there (tests compare the two). */
  nativeParsing?: boolean
}

interface SourceTotals {
  packets: number
  bytes: number
  lines: number
  authFailures: number
}

/** What SIGHUP may change in a running aggregator (applied at the next flush). */
export type ReloadableAggregatorConfig = Omit<ReloadableSettings, 'adminAuth'> & { dumpMessages: boolean }

/** What the log says when reloaded settings take effect. */
export const RELOADED_IN_EFFECT = 'reloaded settings in effect'

/** The fields of that log entry. */
export interface ReloadedSettings {
  percentThreshold: number[]
  histograms: number
  validTokens: number
}

/**
 * The config's defaults for DogStatsD limits, for callers that give none
 * (tests). Loaded only then: zod and the schema cost each aggregation
 * thread's isolate about 10 MB (README: Aggregation threads).
 */
function defaultDogstatsdLimits(): Config['dogstatsd'] {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { configSchema } = require('../config/schema') as typeof import('../config/schema')
  return configSchema.shape.dogstatsd.parse(undefined)
}

export class Aggregator implements CountingSink<KeyEntry>, MetricStore {
  private readonly parser = new PacketParser<KeyEntry>(this)
  /**
   * The addon's fast path (null without the addon), for listeners whose keys
   * need no admission check: it caches each raw key's entry for good, where
   * a token gate must look at every line.
   */
  private readonly nativeParser: NativePacketParser<KeyEntry> | null
  private readonly names = new Map<string, KeyEntry>()
  /** The same entries in the order they were added, for passes a step at a time (busiestKeys). */
  private entryList: KeyEntry[] = []
  private readonly openGate: OpenGate
  private readonly tokenGate: TokenGate
  /** The gate of each listener (by source id); the packet being parsed uses `gate`. */
  private readonly gates: KeyGate[]
  private gate: KeyGate
  private source = 0
  private readonly rejections: AuthRejections
  /** The current line was refused by its gate: its bad values are not bad lines. */
  private lineRefused = false
  private readonly counters = new CounterTable()
  /** The native parser adds counter lines to their rows itself. */
  readonly counterColumn: CounterColumn<KeyEntry> = this.counters
  /**
   * This interval's packets, lines and bad lines: added to the internal
   * counters at the flush instant (plain fields cost the hot path less than
   * a typed-array element). A client may send to the same names too.
   */
  private packets = 0
  private lines = 0
  private badLines = 0
  private readonly timers = new TimerTable()
  private readonly gauges = new GaugeTable()
  private readonly sets = new SetTable()
  private timerStats: TimerStatistics

  private readonly timestampLagName: string
  private lastFlushTimestamp = 0
  /** The timestamp the last flush was sent with (see distinctTimestamp). */
  private lastSentTimestamp = 0
  /** A timer was deleted during the flush in progress. */
  private timerDeleted = false

  private deleteCounters = false
  private deleteTimers = false
  private deleteSets = false
  private deleteGauges = false
  private gaugesMaxTTL = 1
  private dumpMessages: boolean
  private pendingReload: ReloadableAggregatorConfig | null = null

  private badLinesLogged = 0
  private badLinesNotLogged = 0
  /** This interval's DogStatsD fields not understood (self-metric bad_fields). */
  private badFields = 0
  /** Values with a client timestamp: points at their time, kept apart from the interval. */
  private readonly points: TimestampedPoints
  /** The last datagram origin's pid, uid and tag bytes (see originTagsOf). */
  private lastOrigin: [number, number, Buffer | null] = [-1, -1, null]
  /** DogStatsD events and service checks: the latest, and this interval's. */
  private readonly events: RecentEvents<DogStatsdEvent>
  private readonly serviceChecks: RecentEvents<ServiceCheck>

  // For the admin plane: totals of the internal counters' past intervals, and what else it shows.
  private readonly totals = { packets: 0, lines: 0, badLines: 0, bytes: 0 }
  /** The same since start, per listener (by source id), for the admin plane; plus refused lines. */
  private readonly sourceTotals: SourceTotals[]
  private sourceCounts: SourceTotals
  private readonly badLineLog = new BadLineLog()
  private busiestKeys: AggregatorFigures['busiestKeys'] = []
  private lastFlushMs = 0

  constructor(
    private readonly cfg: AggregatorConfig,
    private readonly log: Logger,
    /**
     * Told when reloaded settings take effect (at a take). Logged by default;
     * a shard reports it instead, and the main thread logs it once every
     * shard has them (shards/reload-in-effect.ts).
     */
    private readonly onReloaded: (settings: ReloadedSettings) => void = (settings) => log.info(settings, RELOADED_IN_EFFECT),
  ) {
    this.timerStats = this.timerStatistics(cfg)
    const native = cfg.nativeParsing === false ? null : nativeLineParsing()
    this.nativeParser = native !== null && 'addon' in native ? new NativePacketParser(native.addon, this, this.parser) : null
    if (native !== null && 'unavailable' in native) log.info({ reason: native.unavailable }, 'line parser: JavaScript only (native fast path unavailable)')
    const resolveName: NameResolver = (buf, nameStart, keyEnd, tagsStart, tagsEnd) =>
      this.intern(buildKeyName(buf, nameStart, keyEnd, tagsStart, tagsEnd, cfg.keyNameSanitize))
    this.openGate = new OpenGate(resolveName)
    this.tokenGate = new TokenGate(cfg.auth.tokens, resolveName)
    this.gates = cfg.listeners.map((l) => (l.auth === 'token' ? this.tokenGate : this.openGate))
    this.gate = this.gates[0] ?? this.openGate
    this.sourceTotals = cfg.listeners.map(() => ({ packets: 0, bytes: 0, lines: 0, authFailures: 0 }))
    this.sourceCounts = this.sourceTotals[0] ?? { packets: 0, bytes: 0, lines: 0, authFailures: 0 }
    this.rejections = new AuthRejections(this.tokenListeners([]), log)
    this.dumpMessages = cfg.dumpMessages
    for (const name of ['bad_lines_seen', 'packets_received', 'metrics_received']) {
      this.counters.add(this.intern(`${cfg.prefixStats}.${name}`)!)
    }
    const limits = cfg.dogstatsd ?? defaultDogstatsdLimits()
    const eventLimits = { keep: limits.keepEvents, maxBytes: limits.keepEventBytes, perSecond: limits.eventsPerSecond }
    this.events = new RecentEvents(eventLimits)
    this.serviceChecks = new RecentEvents(eventLimits)
    this.parser.containerIdTag = limits.containerIdTag
    this.points = new TimestampedPoints({
      maxPastSeconds: limits.timestampMaxPastSeconds,
      maxFutureSeconds: limits.timestampMaxFutureSeconds,
      maxPoints: limits.maxTimestampedPoints,
    })
    this.timestampLagName = `${cfg.prefixStats}.timestamp_lag`
    this.setDeleteOptions(cfg)
  }

  /**
   * One packet (a datagram or a run of complete lines from a stream), or a
   * batch of datagrams, from listener `source`. A shard (src/aggregate/shards)
   * is handed lines of many packets at once, and says how many packets and
   * bytes they count for: every packet is counted by exactly one shard, and
   * the sender's pid and uid when they came from an originTags listener.
   */
  ingest(
    packet: Packet,
    source = 0,
    packets = packet instanceof DatagramBatch ? packet.count : 1,
    bytes = packet.length,
    pid = -1,
    uid = -1,
  ): void {
    if (!(packet instanceof DatagramBatch)) return this.ingestLines(packet, 0, packet.length, source, packets, bytes, pid, uid)
    const native = this.countPackets(source, packets, bytes)
    const { slab, ends, count } = packet
    if (packet.origins !== null) return this.parseWithOrigins(packet)
    if (native !== null) return native.parsePackets(slab, 0, ends, count)
    let start = 0
    for (let i = 0; i < count; i++) {
      const end = ends[i]!
      this.parser.parse(slab, start, end)
      start = end
    }
  }

  /** The lines of buf[start, end), as ingest takes a packet: a shard reads its lanes' records in place with it. */
  ingestLines(buf: Buffer, start: number, end: number, source: number, packets: number, bytes: number, pid: number, uid: number): void {
    const native = this.countPackets(source, packets, bytes)
    if (pid >= 0) this.parseFromOrigin(buf, start, end, pid, uid)
    else if (native !== null) native.parse(buf, start, end)
    else this.parser.parse(buf, start, end)
  }

  /** Counts packets from listener `source`, and says whether the addon may parse them (their gate is open, nothing is dumped). */
  private countPackets(source: number, packets: number, bytes: number): NativePacketParser<KeyEntry> | null {
    this.source = source
    this.gate = this.gates[source] ?? this.openGate
    this.sourceCounts = this.sourceTotals[source] ?? this.sourceCounts
    this.sourceCounts.packets += packets
    this.sourceCounts.bytes += bytes
    this.totals.bytes += bytes
    this.packets += packets
    return this.gate === this.openGate && !this.dumpMessages ? this.nativeParser : null
  }

  /**
   * Datagrams whose senders the listener read (originTags): every line gets
   * the tags pid:<pid>,uid:<uid>, so they take the JavaScript parser (which
   * adds tags); without the option no batch has origins and this never runs.
   */
  private parseWithOrigins(batch: DatagramBatch): void {
    const { slab, ends, count } = batch
    const origins = batch.origins!
    let start = 0
    for (let i = 0; i < count; i++) {
      const end = ends[i]!
      this.parseFromOrigin(slab, start, end, origins[2 * i]!, origins[2 * i + 1]!)
      start = end
    }
  }

  /** Lines from one sender (pid, uid; -1 if the kernel gave none), through the JavaScript parser, which adds its tags. */
  private parseFromOrigin(buf: Buffer, start: number, end: number, pid: number, uid: number): void {
    this.parser.originTags = this.originTagsOf(pid, uid)
    this.parser.parse(buf, start, end)
    this.parser.originTags = null
  }

  /** The bytes "pid:<pid>,uid:<uid>" (null if the kernel gave no credentials), the last ones reused. */
  private originTagsOf(pid: number, uid: number): Buffer | null {
    if (pid < 0) return null
    if (pid !== this.lastOrigin[0] || uid !== this.lastOrigin[1]) {
      this.lastOrigin = [pid, uid, Buffer.from(`pid:${pid},uid:${uid}`)]
    }
    return this.lastOrigin[2]
  }

  /** Names the token listeners by their bound addresses, for their self-metrics and logs. */
  describeListeners(descriptions: readonly string[]): void {
    this.rejections.describe(this.tokenListeners(descriptions))
  }

  /** Valid tokens a token listener would accept now. */
  get validTokens(): number {
    return this.tokenGate.validTokens
  }

  /**
   * New settings from a reloaded config. They take effect at the start of
   * the next flush, so the interval in progress keeps everything received.
   */
  reconfigure(cfg: ReloadableAggregatorConfig): void {
    this.pendingReload = cfg
  }

  /** Lines the listeners had to drop (too long) count as bad lines too. */
  addBadLines(count: number): void {
    this.badLines += count
    if (count > 0) this.badLineLog.add('line too long', null, 0, count)
  }

  // ---- ParseSink ----

  onLine(buf: Buffer, start: number, end: number): void {
    this.lines++
    this.sourceCounts.lines++
    this.lineRefused = false
    if (this.dumpMessages) this.log.info({ line: this.loggable(buf, start, end, 'utf8') }, 'received')
  }

  /** `count` lines with nothing to log (the native fast path's). */
  onLines(count: number): void {
    this.lines += count
    this.sourceCounts.lines += count
    this.lineRefused = false
  }

  onBadLine(buf: Buffer, lineStart: number, lineEnd: number, reason: BadLineReason): void {
    this.badLine(buf, lineStart, lineEnd, reason)
  }

  private badLine(buf: Buffer, lineStart: number, lineEnd: number, reason: string): void {
    // A refused line was counted and logged as such, once, whatever else is wrong with it.
    if (this.lineRefused) return
    const line = this.loggable(buf, lineStart, Math.min(lineEnd, lineStart + LOGGED_LINE_BYTES), 'latin1')
    this.badLineLog.add(reason, line, lineEnd - lineStart)
    if (!this.countBadLine()) return
    this.log.warn({ reason, line: JSON.stringify(line), bytes: lineEnd - lineStart }, 'bad line dropped')
  }

  onEventLine(buf: Buffer, lineStart: number, lineEnd: number, kind: DogStatsdLine): void {
    // They carry no token: a token listener takes none (refused and counted as such).
    if (this.gate !== this.openGate) return this.refuse(MISSING_TOKEN, buf, lineStart, lineEnd)
    const nowMs = Date.now()
    const now = Math.floor(nowMs / 1000)
    if (kind === DogStatsdLine.Event) {
      const event = parseEvent(buf, lineStart, lineEnd, now)
      if (typeof event === 'string') return this.badLine(buf, lineStart, lineEnd, event)
      this.events.add(event, nowMs)
    } else {
      const check = parseServiceCheck(buf, lineStart, lineEnd, now)
      if (typeof check === 'string') return this.badLine(buf, lineStart, lineEnd, check)
      this.serviceChecks.add(check, nowMs)
    }
  }

  onBadFields(buf: Buffer, lineStart: number, lineEnd: number, count: number): void {
    const first = this.badFields === 0
    this.badFields += count
    const line = this.loggable(buf, lineStart, Math.min(lineEnd, lineStart + LOGGED_LINE_BYTES), 'latin1')
    this.badLineLog.add('unknown field (ignored, values kept)', line, lineEnd - lineStart, count)
    if (first) this.log.warn({ line: JSON.stringify(line), count }, 'unknown DogStatsD field ignored (first this interval; see bad_fields)')
  }

  onTimestamped(key: KeyEntry, type: ParsedType, value: number, extra: number, timestamp: number): void {
    const nowSeconds = Math.floor(Date.now() / 1000)
    let refusal: PointRefusal
    if (type === ParsedType.Counter) {
      const count = value * (1 / extra)
      if (!Number.isFinite(count)) return this.refuseValue(key, value)
      refusal = this.points.add(key.name, 'counter', count, timestamp, nowSeconds)
    } else if (type === ParsedType.Gauge && extra !== 1) {
      refusal = this.points.add(key.name, 'gauge', value, timestamp, nowSeconds)
    } else {
      refusal = this.points.refuseType()
    }
    if (refusal === null) return
    const text = `${key.name}: ${value} at ${timestamp}`
    this.badLineLog.add(refusal, text)
    // The first refusal of each interval is logged; the rest are counted (timestamped_dropped).
    if (this.points.refusedThisInterval === 1) {
      this.log.warn({ reason: refusal, metric: key.name, timestamp, now: nowSeconds }, 'timestamped value refused (first this interval; see timestamped_dropped)')
    }
  }

  /** Counts a bad line; true if it is one of those logged in full this interval. */
  private countBadLine(): boolean {
    this.badLines++
    if (this.badLinesLogged < BAD_LINES_LOGGED_PER_FLUSH) {
      this.badLinesLogged++
      return true
    }
    this.badLinesNotLogged++
    return false
  }

  resolveKey(
    buf: Buffer,
    keyStart: number,
    keyEnd: number,
    tagsStart: number,
    tagsEnd: number,
    hash: number,
  ): KeyEntry | null {
    const result = this.gate.resolve(buf, keyStart, keyEnd, tagsStart, tagsEnd, hash)
    if (typeof result !== 'number') return result
    this.refuse(result, buf, keyStart, keyEnd)
    return null
  }

  /**
   * The native parser's new keys: it reads only for the open gate, which
   * admits every key, and keeps each key's entry by id, so the open gate's
   * cache by raw bytes would be a second copy of every key (about 100
   * bytes each).
   */
  resolveInterned(buf: Buffer, keyStart: number, keyEnd: number, tagsStart: number, tagsEnd: number): KeyEntry | null {
    return this.intern(buildKeyName(buf, keyStart, keyEnd, tagsStart, tagsEnd, this.cfg.keyNameSanitize))
  }

  // Every value stored below stays a finite number (the README promises no
  // Infinity or NaN): a value that would overflow is a bad line, and the
  // metric keeps its previous value.

  onCounter(key: KeyEntry, value: number, sampleRate: number): void {
    // Etsy multiplies by the inverse rate; dividing can differ in the last bit.
    const increment = value * (1 / sampleRate)
    if (!Number.isFinite(increment)) return this.refuseValue(key, value)
    key.values++
    let i = key.counter
    if (i < 0) i = this.counters.add(key)
    const values = this.counters.values
    const sum = values[i]! + increment
    if (!Number.isFinite(sum)) return this.refuseValue(key, value)
    values[i] = sum
  }

  onTimer(key: KeyEntry, value: number, sampleRate: number, histogram = false): void {
    // sum_squares needs value² and count needs 1/rate.
    if (!Number.isFinite(value * value) || !Number.isFinite(1 / sampleRate)) return this.refuseValue(key, value)
    key.values++
    let i = key.timer
    if (i < 0) i = this.timers.add(key, this.timerStats.binsFor(key.name))
    if (histogram) this.timers.markHistogram(i)
    this.timers.addValue(i, value, sampleRate)
  }

  onGauge(key: KeyEntry, value: number, isDelta: boolean): void {
    key.values++
    let i = key.gauge
    if (i < 0) {
      i = this.gauges.add(key, value)
      isDelta = false
    }
    const values = this.gauges.values
    // "+N"/"-N" adjusts an existing gauge; otherwise the value replaces it.
    const next = isDelta ? values[i]! + value : value
    if (!Number.isFinite(next)) return this.refuseValue(key, value)
    values[i] = next
    if (this.deleteGauges) this.gauges.ttls[i] = this.gaugesMaxTTL
  }

  /** A value that parsed but whose result (a sum, a square, 1/rate) would be Infinity or NaN. */
  private refuseValue(key: KeyEntry, value: number): void {
    this.badLineLog.add('result not finite', `${key.name}: ${value}`)
    if (this.countBadLine()) this.log.warn({ reason: 'result not finite', metric: key.name, value }, 'bad line dropped')
  }

  onSet(key: KeyEntry, buf: Buffer, valueStart: number, valueEnd: number): void {
    key.values++
    let i = key.set
    if (i < 0) i = this.sets.add(key)
    this.sets.addMember(i, valueEnd > valueStart ? buf.toString('latin1', valueStart, valueEnd) : '0')
  }

  // ---- flush ----

  /** Computes this interval's results in one piece, then resets state for the next one. */
  flush(nowMs: number): FlushData {
    return this.takeInterval(nowMs).all()
  }

  /**
   * Takes this interval's values at the flush instant and resets state for
   * the next interval with Etsy's keep/reset/delete rules, in one quick pass
   * over the keys; the statistics are computed afterwards, part by part,
   * from what was taken (TakenInterval), while ingest goes on.
   */
  takeInterval(nowMs: number, timerValues = false): TakenInterval {
    // Before the busiest keys are picked from them.
    this.nativeParser?.takeHits()
    if (this.pendingReload !== null) this.applyReload(this.pendingReload)
    const timestamp = Math.round(nowMs / 1000)
    const intervalMs = this.cfg.flushInterval
    if (this.lastFlushTimestamp > 0) {
      this.gauges.values[this.internalGauge(this.timestampLagName)] = timestamp - this.lastFlushTimestamp - intervalMs / 1000
    }
    this.lastFlushTimestamp = timestamp
    const taken = new TakenInterval(
      this.distinctTimestamp(timestamp, intervalMs),
      intervalMs,
      this.timerStats,
      this.log,
      this.timers,
      this.timers.begin(),
      (timer) => this.timerTaken(timer),
      this.afterFlushInstant(),
      (ms) => (this.lastFlushMs = ms),
      timerValues,
    )
    const internal = this.counters.values
    internal[PACKETS_RECEIVED] += this.packets
    internal[METRICS_RECEIVED] += this.lines
    internal[BAD_LINES] += this.badLines
    this.packets = this.lines = this.badLines = 0
    this.totals.packets += internal[PACKETS_RECEIVED]!
    this.totals.lines += internal[METRICS_RECEIVED]!
    this.totals.badLines += internal[BAD_LINES]!
    taken.counters = this.counters.take(INTERNAL_COUNTERS, this.deleteCounters)
    let deleted = this.deleteCounters && taken.counters.count > INTERNAL_COUNTERS
    // Gauges keep their value; with deleteGauges they expire gaugesMaxTTL flushes after their last update.
    if (this.gauges.take(taken.gaugeNames, taken.gaugeValues, this.deleteGauges)) deleted = true
    if (this.sets.take(taken.setNames, taken.setCounts, this.deleteSets)) deleted = true
    if (deleted) this.forgetEmptyNames()
    this.rejections.flush(taken.selfMetrics)
    const events = this.events.takeInterval()
    const checks = this.serviceChecks.takeInterval()
    const points = this.points.take()
    taken.events = events.items
    taken.serviceChecks = checks.items
    taken.points = points.points
    taken.selfMetrics.push(
      { name: 'bad_fields', value: this.badFields },
      { name: 'timestamped_points', value: points.accepted },
      { name: 'timestamped_dropped', value: points.refused },
      { name: 'events_received', value: events.received },
      { name: 'service_checks_received', value: checks.received },
      { name: 'events_rate_limited', value: events.rateLimited },
      { name: 'service_checks_rate_limited', value: checks.rateLimited },
    )
    this.badFields = 0

    if (this.badLinesNotLogged > 0) {
      this.log.warn({ count: this.badLinesNotLogged }, 'more bad lines dropped than were logged')
    }
    this.badLinesLogged = 0
    this.badLinesNotLogged = 0
    return taken
  }

  /**
   * Graphite keeps one value per name and timestamp, so two flushes that
   * round to the same second (a flush that ran a little late followed by
   * one on time; the final flush at shutdown just after a scheduled one)
   * would lose the first one's counts. With intervals of a second or more,
   * such a flush gets the next second instead; timestamp_lag still shows
   * the real lag.
   */
  private distinctTimestamp(timestamp: number, intervalMs: number): number {
    if (intervalMs >= 1000 && timestamp <= this.lastSentTimestamp) timestamp = this.lastSentTimestamp + 1
    this.lastSentTimestamp = timestamp
    return timestamp
  }

  /** A timer's values were computed for the flush: Etsy's deleteTimers removes it then. */
  private timerTaken(timer: number): void {
    // One that already has values of the new interval stays, as if created anew.
    if (!this.deleteTimers || this.timers.valueCount(timer) > 0) return
    this.timers.removeAt(timer)
    this.timerDeleted = true
  }

  /** Once a flush has gone through every metric: names of deleted timers are let go, the busiest keys picked. */
  private *afterFlushInstant(): Generator<void> {
    if (this.timerDeleted) this.forgetEmptyNames()
    this.timerDeleted = false
    yield
    // An idle interval keeps the last busy one's list: "what did I last receive?" stays answerable.
    yield* busiestKeys(this.entryList, (top) => {
      if (top.length > 0) this.busiestKeys = top
    })
  }

  // ---- MetricStore: the admin plane's view ----

  tables(): MetricTables {
    const counters = new Map<string, number>()
    for (const [entry, value] of this.counters.live()) counters.set(entry.name, value + this.pendingInternal(entry.counter))
    return {
      counters,
      timers: new Map([...this.timers.live()].map((i) => [this.timers.name(i), Array.from(this.timers.values(i))])),
      gauges: new Map([...this.gauges.live()].map(([entry, value]) => [entry.name, value])),
      sets: new Map([...this.sets.live()].map(([entry, members]) => [entry.name, members])),
    }
  }

  /** What the hot path has counted for an internal counter since the last flush instant (0 for any other). */
  private pendingInternal(index: number): number {
    if (index === PACKETS_RECEIVED) return this.packets
    if (index === METRICS_RECEIVED) return this.lines
    return index === BAD_LINES ? this.badLines : 0
  }

  /** Etsy's delcounters & co. The internal counters are not deletable (Etsy would send NaN after). */
  deleteMatching(type: MetricType, pattern: string): string[] {
    const table = this[type]
    const deletable = (name: string): boolean => {
      const entry = this.names.get(name)
      if (entry === undefined) return false
      return type === 'counters' ? entry.counter >= INTERNAL_COUNTERS : entry[TYPE_INDEX[type]] >= 0
    }
    const live = [...this.liveNames(type)].filter(deletable)
    const names = matchingNames(live, deletable, pattern)
    for (const name of names) table.remove(this.names.get(name)!)
    if (names.length > 0) this.forgetEmptyNames()
    return names
  }

  /** Names of the live metrics of a type, in flush order. */
  private *liveNames(type: MetricType): Generator<string> {
    if (type === 'timers') for (const i of this.timers.live()) yield this.timers.name(i)
    else for (const [entry] of this[type].live()) yield entry.name
  }

  /** Packets, bytes, lines and refused lines since start, per listener (in config order). */
  listenerTotals(): readonly Readonly<SourceTotals>[] {
    return this.sourceTotals
  }

  inspect(): AggregatorFigures {
    return {
      packets: this.totals.packets + this.counters.values[PACKETS_RECEIVED]! + this.packets,
      lines: this.totals.lines + this.counters.values[METRICS_RECEIVED]! + this.lines,
      badLines: this.totals.badLines + this.counters.values[BAD_LINES]! + this.badLines,
      bytes: this.totals.bytes,
      badLinesByReason: { ...this.badLineLog.byReason },
      recentBadLines: this.badLineLog.latest(),
      keys: { counters: this.counters.size, timers: this.timers.size, gauges: this.gauges.size, sets: this.sets.size },
      busiestKeys: this.busiestKeys,
      lastFlushMs: this.lastFlushMs,
      events: this.events.figures(),
      serviceChecks: this.serviceChecks.figures(),
    }
  }

  /** Lets go of names with no state left, so deleted metrics free their memory. */
  private forgetEmptyNames(): void {
    let forgot = false
    for (const [name, entry] of this.names) {
      if (entry.isEmpty()) {
        this.names.delete(name)
        forgot = true
      }
    }
    // The byte caches may point at forgotten entries: rebuild them lazily.
    if (forgot) {
      this.entryList = [...this.names.values()]
      this.openGate.clear()
      this.tokenGate.clear()
      this.nativeParser?.clear()
    }
  }

  private intern(name: string): KeyEntry | null {
    if (name === '') return null
    let entry = this.names.get(name)
    if (entry === undefined) {
      entry = new KeyEntry(name)
      this.names.set(name, entry)
      this.entryList.push(entry)
    }
    return entry
  }

  private refuse(reason: Rejection, buf: Buffer, keyStart: number, keyEnd: number): void {
    this.lineRefused = true
    this.sourceCounts.authFailures++
    this.rejections.record(this.source, reason, buf, keyStart, keyEnd)
  }

  /** Text of a line for the logs: a token listener's token is cut to its first characters. */
  private loggable(buf: Buffer, start: number, end: number, encoding: 'utf8' | 'latin1'): string {
    return this.gate === this.tokenGate ? lineWithTokenMasked(buf, start, end) : buf.toString(encoding, start, end)
  }

  private tokenListeners(descriptions: readonly string[]): Map<number, string> {
    const out = new Map<number, string>()
    this.cfg.listeners.forEach((l, i) => {
      if (l.auth === 'token') out.set(i, descriptions[i] ?? `listener ${i}`)
    })
    return out
  }

  private timerStatistics(cfg: Pick<AggregatorConfig, 'percentThreshold' | 'histogram' | 'calculatedTimerMetrics'>): TimerStatistics {
    return this.cfg.timerStatistics === 'statsgod'
      ? new StatsgodTimerStats(cfg.percentThreshold)
      : new TimerStatsCalculator(cfg.percentThreshold, cfg.histogram, cfg.calculatedTimerMetrics)
  }

  private setDeleteOptions(cfg: ReloadableAggregatorConfig): void {
    const wasDeletingGauges = this.deleteGauges
    // deleteIdleStats is the default for each individual delete* option.
    this.deleteCounters = cfg.deleteCounters ?? cfg.deleteIdleStats
    this.deleteTimers = cfg.deleteTimers ?? cfg.deleteIdleStats
    this.deleteSets = cfg.deleteSets ?? cfg.deleteIdleStats
    this.deleteGauges = cfg.deleteGauges ?? cfg.deleteIdleStats
    // Etsy forces anything but an integer > 1 to 1.
    this.gaugesMaxTTL = Number.isInteger(cfg.gaugesMaxTTL) && cfg.gaugesMaxTTL > 1 ? cfg.gaugesMaxTTL : 1
    if (this.deleteGauges && !wasDeletingGauges) {
      // Gauges kept so far had no lease: give each a full one rather than drop it at once.
      this.gauges.renewLeases(this.gaugesMaxTTL)
    }
  }

  private applyReload(cfg: ReloadableAggregatorConfig): void {
    this.pendingReload = null
    this.timerStats = this.timerStatistics(cfg)
    this.timers.rebin((name) => this.timerStats.binsFor(name))
    this.setDeleteOptions(cfg)
    this.tokenGate.setTokens(cfg.auth.tokens)
    this.dumpMessages = cfg.dumpMessages
    this.onReloaded({ percentThreshold: cfg.percentThreshold, histograms: cfg.histogram.length, validTokens: this.tokenGate.validTokens })
  }

  /** The index of the server's own gauge `name`, created if need be. */
  private internalGauge(name: string): number {
    const entry = this.intern(name)!
    if (entry.gauge >= 0) return entry.gauge
    const i = this.gauges.add(entry, 0)
    // Not refreshed by packets, so never expired by gaugesMaxTTL (as in Etsy).
    this.gauges.ttls[i] = Infinity
    return i
  }
}
