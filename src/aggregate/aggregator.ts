import type { Config } from '../config/schema'
import type { AggregatorFigures, MetricStore, MetricTables, MetricType } from '../core/server-control'
import type { Logger } from '../log'
import { buildKeyName } from '../parse/key-name'
import { type BadLineReason, PacketParser, type ParseSink } from '../parse/packet-parser'
import type { FlushData } from './flush-data'
import { BadLineLog, matchingNames, takeBusiestKeys } from './inspection'
import { RawKeyCache } from './raw-key-cache'
import { CounterSlot, GaugeSlot, KeyEntry, SetSlot, TimerSlot } from './slots'
import { TimerStatsCalculator, type TimerStat } from './timer-stats'

/*
 * Rolls parsed values up per flush interval, with Etsy statsd 0.9's rules for
 * what is kept, reset or deleted between flushes. Single-threaded by design:
 * it is only ever called from the aggregator loop.
 */

/** Bad lines logged in full per flush interval; the rest are only counted. */
const BAD_LINES_LOGGED_PER_FLUSH = 20
const LOGGED_LINE_BYTES = 200
/** Past this many distinct raw keys, start the byte cache afresh. */
const RAW_KEY_CACHE_LIMIT = 1_000_000

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
> & { dumpMessages: boolean }

export class Aggregator implements ParseSink<KeyEntry>, MetricStore {
  private readonly parser = new PacketParser<KeyEntry>(this)
  private readonly rawKeys = new RawKeyCache<KeyEntry | null>()
  private readonly names = new Map<string, KeyEntry>()
  private readonly counters = new Map<string, CounterSlot>()
  private readonly timers = new Map<string, TimerSlot>()
  private readonly gauges = new Map<string, GaugeSlot>()
  private readonly sets = new Map<string, SetSlot>()
  private readonly timerStats: TimerStatsCalculator

  // Etsy's internal counters, created first so they come first in every flush.
  private readonly badLines: CounterSlot
  private readonly packetsReceived: CounterSlot
  private readonly metricsReceived: CounterSlot
  private readonly internalCounters: ReadonlySet<CounterSlot>
  private readonly timestampLagName: string
  private lastFlushTimestamp = 0

  private readonly deleteCounters: boolean
  private readonly deleteTimers: boolean
  private readonly deleteSets: boolean
  private readonly deleteGauges: boolean
  private readonly gaugesMaxTTL: number

  private badLinesLogged = 0
  private badLinesNotLogged = 0

  // For the admin plane: totals of the internal counters' past intervals, and what else it shows.
  private readonly totals = { packets: 0, lines: 0, badLines: 0, bytes: 0 }
  private readonly badLineLog = new BadLineLog()
  private busiestKeys: AggregatorFigures['busiestKeys'] = []
  private lastFlushMs = 0

  constructor(
    private readonly cfg: AggregatorConfig,
    private readonly log: Logger,
  ) {
    this.timerStats = new TimerStatsCalculator(cfg.percentThreshold, cfg.histogram, cfg.calculatedTimerMetrics)
    this.badLines = this.counterSlot(`${cfg.prefixStats}.bad_lines_seen`)
    this.packetsReceived = this.counterSlot(`${cfg.prefixStats}.packets_received`)
    this.metricsReceived = this.counterSlot(`${cfg.prefixStats}.metrics_received`)
    this.internalCounters = new Set([this.badLines, this.packetsReceived, this.metricsReceived])
    this.timestampLagName = `${cfg.prefixStats}.timestamp_lag`
    // deleteIdleStats is the default for each individual delete* option.
    this.deleteCounters = cfg.deleteCounters ?? cfg.deleteIdleStats
    this.deleteTimers = cfg.deleteTimers ?? cfg.deleteIdleStats
    this.deleteSets = cfg.deleteSets ?? cfg.deleteIdleStats
    this.deleteGauges = cfg.deleteGauges ?? cfg.deleteIdleStats
    // Etsy forces anything but an integer > 1 to 1.
    this.gaugesMaxTTL = Number.isInteger(cfg.gaugesMaxTTL) && cfg.gaugesMaxTTL > 1 ? cfg.gaugesMaxTTL : 1
  }

  /** One packet: a UDP datagram or a run of complete lines from a stream. */
  ingest(packet: Buffer): void {
    this.packetsReceived.value++
    this.totals.bytes += packet.length
    this.parser.parse(packet)
  }

  /** Lines the listeners had to drop (too long) count as bad lines too. */
  addBadLines(count: number): void {
    this.badLines.value += count
    if (count > 0) this.badLineLog.add('line too long', null, 0, 0, count)
  }

  // ---- ParseSink ----

  onLine(buf: Buffer, start: number, end: number): void {
    this.metricsReceived.value++
    if (this.cfg.dumpMessages) this.log.info({ line: buf.toString('utf8', start, end) }, 'received')
  }

  onBadLine(buf: Buffer, lineStart: number, lineEnd: number, reason: BadLineReason): void {
    this.badLines.value++
    this.badLineLog.add(reason, buf, lineStart, lineEnd)
    if (this.badLinesLogged < BAD_LINES_LOGGED_PER_FLUSH) {
      this.badLinesLogged++
      const shown = Math.min(lineEnd, lineStart + LOGGED_LINE_BYTES)
      this.log.warn(
        { reason, line: JSON.stringify(buf.toString('latin1', lineStart, shown)), bytes: lineEnd - lineStart },
        'bad line dropped',
      )
    } else {
      this.badLinesNotLogged++
    }
  }

  resolveKey(buf: Buffer, keyStart: number, keyEnd: number, tagsStart: number, tagsEnd: number): KeyEntry | null {
    const cached = this.rawKeys.get(buf, keyStart, keyEnd, tagsStart, tagsEnd)
    if (cached !== undefined) return cached
    const name = buildKeyName(buf, keyStart, keyEnd, tagsStart, tagsEnd, this.cfg.keyNameSanitize)
    let entry: KeyEntry | null = null
    if (name !== '') {
      entry = this.names.get(name) ?? null
      if (entry === null) {
        entry = new KeyEntry(name)
        this.names.set(name, entry)
      }
    }
    if (this.rawKeys.size >= RAW_KEY_CACHE_LIMIT) this.rawKeys.clear()
    this.rawKeys.set(buf, keyStart, keyEnd, tagsStart, tagsEnd, entry)
    return entry
  }

  onCounter(key: KeyEntry, value: number, sampleRate: number): void {
    key.values++
    let slot = key.counter
    if (slot === null || !slot.live) slot = key.counter = this.counterSlot(key.name)
    // Etsy multiplies by the inverse rate; dividing can differ in the last bit.
    slot.value += value * (1 / sampleRate)
  }

  onTimer(key: KeyEntry, value: number, sampleRate: number): void {
    key.values++
    let slot = key.timer
    if (slot === null || !slot.live) {
      slot = this.timers.get(key.name) ?? null
      if (slot === null) {
        slot = new TimerSlot(key.name, this.timerStats.binsFor(key.name))
        this.timers.set(key.name, slot)
      }
      key.timer = slot
    }
    slot.add(value, sampleRate)
  }

  onGauge(key: KeyEntry, value: number, isDelta: boolean): void {
    key.values++
    let slot = key.gauge
    if (slot === null || !slot.live) {
      slot = this.gauges.get(key.name) ?? null
      if (slot === null) {
        slot = new GaugeSlot(key.name)
        slot.value = value
        this.gauges.set(key.name, slot)
        isDelta = false
      }
      key.gauge = slot
    }
    // "+N"/"-N" adjusts an existing gauge; otherwise the value replaces it.
    slot.value = isDelta ? slot.value + value : value
    if (this.deleteGauges) slot.ttl = this.gaugesMaxTTL
  }

  onSet(key: KeyEntry, buf: Buffer, valueStart: number, valueEnd: number): void {
    key.values++
    let slot = key.set
    if (slot === null || !slot.live) {
      slot = this.sets.get(key.name) ?? null
      if (slot === null) {
        slot = new SetSlot(key.name)
        this.sets.set(key.name, slot)
      }
      key.set = slot
    }
    slot.members.add(valueEnd > valueStart ? buf.toString('latin1', valueStart, valueEnd) : '0')
  }

  // ---- flush ----

  /** Computes this interval's results, then resets state for the next one. */
  flush(nowMs: number): FlushData {
    const started = Date.now()
    const startedPrecise = process.hrtime.bigint()
    const timestamp = Math.round(nowMs / 1000)
    const intervalMs = this.cfg.flushInterval
    if (this.lastFlushTimestamp > 0) {
      this.gaugeSlot(this.timestampLagName).value = timestamp - this.lastFlushTimestamp - intervalMs / 1000
    }
    this.lastFlushTimestamp = timestamp

    const data: FlushData = {
      timestamp,
      flushIntervalMs: intervalMs,
      counters: [],
      timers: [],
      gauges: [],
      sets: [],
      processingTime: 0,
      selfMetrics: [],
    }
    for (const slot of this.counters.values()) {
      data.counters.push({ name: slot.name, value: slot.value, rate: slot.value / (intervalMs / 1000) })
    }
    for (const slot of this.timers.values()) {
      const stats: TimerStat[] = []
      this.timerStats.compute(slot.values(), slot.count, intervalMs, slot.bins, stats)
      data.timers.push({ name: slot.name, stats })
    }
    data.processingTime = Date.now() - started
    for (const slot of this.gauges.values()) data.gauges.push({ name: slot.name, value: slot.value })
    for (const slot of this.sets.values()) data.sets.push({ name: slot.name, count: slot.members.size })

    this.totals.packets += this.packetsReceived.value
    this.totals.lines += this.metricsReceived.value
    this.totals.badLines += this.badLines.value
    // An idle interval keeps the last busy one's list: "what did I last receive?" stays answerable.
    const busiest = takeBusiestKeys(this.names.values())
    if (busiest.length > 0) this.busiestKeys = busiest
    this.resetForNextInterval()
    this.lastFlushMs = Number(process.hrtime.bigint() - startedPrecise) / 1e6
    if (this.badLinesNotLogged > 0) {
      this.log.warn({ count: this.badLinesNotLogged }, 'more bad lines dropped than were logged')
    }
    this.badLinesLogged = 0
    this.badLinesNotLogged = 0
    return data
  }

  // ---- MetricStore: the admin plane's view ----

  tables(): MetricTables {
    const copy = <S, V>(table: Map<string, S>, value: (slot: S) => V): Map<string, V> => {
      const out = new Map<string, V>()
      for (const [name, slot] of table) out.set(name, value(slot))
      return out
    }
    return {
      counters: copy(this.counters, (s) => s.value),
      timers: copy(this.timers, (s) => Array.from(s.values())),
      gauges: copy(this.gauges, (s) => s.value),
      sets: copy(this.sets, (s) => [...s.members]),
    }
  }

  /** Etsy's delcounters & co. The internal counters are not deletable (Etsy would send NaN after). */
  deleteMatching(type: MetricType, pattern: string): string[] {
    const table: Map<string, { name: string; live: boolean }> = this[type]
    const deletable = (name: string): boolean =>
      table.has(name) && !(type === 'counters' && this.internalCounters.has(this.counters.get(name)!))
    const names = matchingNames([...table.keys()].filter(deletable), deletable, pattern)
    for (const name of names) {
      const slot = table.get(name)
      if (slot !== undefined) this.remove(table, slot)
    }
    if (names.length > 0) this.forgetEmptyNames()
    return names
  }

  inspect(): AggregatorFigures {
    return {
      packets: this.totals.packets + this.packetsReceived.value,
      lines: this.totals.lines + this.metricsReceived.value,
      badLines: this.totals.badLines + this.badLines.value,
      bytes: this.totals.bytes,
      badLinesByReason: { ...this.badLineLog.byReason },
      recentBadLines: this.badLineLog.latest(),
      keys: { counters: this.counters.size, timers: this.timers.size, gauges: this.gauges.size, sets: this.sets.size },
      busiestKeys: this.busiestKeys,
      lastFlushMs: this.lastFlushMs,
    }
  }

  private resetForNextInterval(): void {
    let deleted = false
    for (const slot of this.counters.values()) {
      if (this.deleteCounters && !this.internalCounters.has(slot)) {
        deleted = this.remove(this.counters, slot)
      } else {
        slot.value = 0
      }
    }
    for (const slot of this.timers.values()) {
      if (this.deleteTimers) deleted = this.remove(this.timers, slot)
      else slot.reset()
    }
    for (const slot of this.sets.values()) {
      if (this.deleteSets) deleted = this.remove(this.sets, slot)
      else slot.members.clear()
    }
    // Gauges keep their value; with deleteGauges they expire gaugesMaxTTL flushes after their last update.
    if (this.deleteGauges) {
      for (const slot of this.gauges.values()) {
        if (--slot.ttl < 1) deleted = this.remove(this.gauges, slot)
      }
    }
    if (deleted) this.forgetEmptyNames()
  }

  private remove<S extends { name: string; live: boolean }>(table: Map<string, S>, slot: S): true {
    table.delete(slot.name)
    slot.live = false
    return true
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
    // The byte cache may point at forgotten entries: rebuild it lazily.
    if (forgot) this.rawKeys.clear()
  }

  private counterSlot(name: string): CounterSlot {
    let slot = this.counters.get(name)
    if (slot === undefined) {
      slot = new CounterSlot(name)
      this.counters.set(name, slot)
    }
    return slot
  }

  private gaugeSlot(name: string): GaugeSlot {
    let slot = this.gauges.get(name)
    if (slot === undefined) {
      slot = new GaugeSlot(name)
      // Not refreshed by packets, so never expired by gaugesMaxTTL (as in Etsy).
      slot.ttl = Infinity
      this.gauges.set(name, slot)
    }
    return slot
  }
}
