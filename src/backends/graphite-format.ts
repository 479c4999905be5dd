import { asPart, type FlushData, type FlushHeader, type FlushCounter, type FlushPart, type FlushTrailer, type PartNames } from '../aggregate/flush-data'
import type { NameBytes } from '../aggregate/name-bytes'
import type { TimestampedPoint } from '../aggregate/timestamped-points'
import type { TimerColumns } from '../aggregate/timer-columns'
import type { GraphiteBackendConfig } from '../config/schema'
import { sanitizeKeyName } from '../parse/key-name'
import { ByteChunks, MAX_NUMBER_BYTES } from './byte-chunks'
import type { Payload } from './outbox'

/*
 * Etsy statsd 0.9's Graphite plaintext output (backends/graphite.js): the
 * same names in both the legacy and the new namespace, Graphite tags kept
 * after the global suffix, numbers printed as JavaScript prints them.
 */

export interface GraphiteNaming
  extends Pick<
    GraphiteBackendConfig,
    'legacyNamespace' | 'globalPrefix' | 'prefixCounter' | 'prefixTimer' | 'prefixGauge' | 'prefixSet' | 'globalSuffix'
  > {
  prefixStats: string
  flushCounts: boolean
  /** Etsy's backend sanitises names itself when keyNameSanitize is off. */
  sanitizeNames: boolean
}

/** The backend's own health numbers (Etsy's graphiteStats). */
export interface GraphiteHealth {
  lastException: number
  lastFlush: number
  flushTime: number
  flushLength: number
}

const DOT = 0x2e

/**
 * One flush being written as Graphite lines: each part as it comes, then
 * the trailer. The Buffers can also be had one by one as each is completed
 * (begin's onChunk).
 */
export interface FlushLines {
  write(part: FlushPart): void
  /** `calculationTime`: ms the flush took to compute (Etsy's graphiteStats.calculationtime). */
  end(trailer: FlushTrailer, calculationTime: number): Payload & { release(): void }
}

/** " <timestamp>\n", the end of every line of a flush. */
export function lineEnd(timestamp: number): Buffer {
  return Buffer.from(` ${timestamp}\n`)
}

/**
 * What follows a timer's name on each of its lines, "<stat><globalSuffix> ",
 * encoded once per flush and statistic (the names are shared by every timer).
 */
export class StatSuffixes {
  private names: readonly string[] = []
  private bytes: Buffer[] = []
  /** Bytes of the longest one. */
  longest = 0

  constructor(private readonly suffix: string) {}

  /** The encoded suffixes of every statistic of `names`, by id (a histogram may have added names since the last call). */
  of(names: readonly string[]): Buffer[] {
    if (names !== this.names) {
      this.names = names
      this.bytes = []
      this.longest = 0
    }
    for (let id = this.bytes.length; id < names.length; id++) {
      const bytes = Buffer.from(names[id] + this.suffix + ' ')
      this.bytes.push(bytes)
      this.longest = Math.max(this.longest, bytes.length)
    }
    return this.bytes
  }
}

/** Told of each Buffer of a flush's lines as it is completed. */
export type ChunkListener = ((chunk: Buffer) => void) | null

class GraphiteLines implements FlushLines {
  private readonly out: ByteChunks
  private readonly ts: Buffer
  private readonly suffixes: StatSuffixes
  private numStats = 0

  constructor(
    private readonly formatter: GraphiteFormatter,
    timestamp: number,
    private readonly flushIntervalMs: number,
    suffix: string,
    onChunk: ChunkListener,
  ) {
    this.out = new ByteChunks(onChunk)
    this.ts = lineEnd(timestamp)
    this.suffixes = new StatSuffixes(suffix)
  }

  write(part: FlushPart): void {
    this.numStats += this.formatter.writePart(this.out, part, this.ts, this.suffixes)
  }

  end(trailer: FlushTrailer, calculationTime: number): Payload & { release(): void } {
    this.formatter.writeTrailer(this.out, this.numStats, trailer, calculationTime, this.ts)
    this.formatter.writePoints(this.out, trailer.points ?? [], this.flushIntervalMs)
    return this.out.finish()
  }
}

export class GraphiteFormatter {
  private readonly counterPrefix: string
  private readonly countPrefix: string
  private readonly timerPrefix: string
  private readonly timerPrefixBytes: Buffer
  private readonly gaugePrefix: string
  private readonly setPrefix: string
  /** Prefix of the daemon's own statistics ("stats.statsd." in the legacy namespace). */
  private readonly statsPrefix: string
  private readonly numStatsName: string
  private readonly suffix: string

  constructor(private readonly naming: GraphiteNaming) {
    const join = (...parts: string[]): string => {
      const kept = parts.filter((p) => p !== '')
      return kept.length > 0 ? kept.join('.') + '.' : ''
    }
    const { prefixStats } = naming
    this.suffix = naming.globalSuffix !== undefined ? '.' + naming.globalSuffix : ''
    if (naming.legacyNamespace) {
      this.counterPrefix = 'stats.'
      this.countPrefix = 'stats_counts.'
      this.timerPrefix = 'stats.timers.'
      this.gaugePrefix = 'stats.gauges.'
      this.setPrefix = 'stats.sets.'
      this.statsPrefix = `stats.${prefixStats}.`
      this.numStatsName = `${prefixStats}.numStats`
    } else {
      const g = naming.globalPrefix
      this.counterPrefix = join(g, naming.prefixCounter)
      this.countPrefix = this.counterPrefix
      this.timerPrefix = join(g, naming.prefixTimer)
      this.gaugePrefix = join(g, naming.prefixGauge)
      this.setPrefix = join(g, naming.prefixSet)
      this.statsPrefix = join(g, prefixStats)
      this.numStatsName = `${this.statsPrefix}numStats`
    }
    this.timerPrefixBytes = Buffer.from(this.timerPrefix)
  }

  /** Every metric of a flush, then numStats and the calculation/processing times. */
  format(data: FlushData, calculationStarted: number): string {
    const lines = this.begin(data)
    lines.write(asPart(data))
    return Buffer.concat(lines.end(data, Date.now() - calculationStarted).chunks).toString()
  }

  /** One flush's lines, written part by part into Buffers as the parts are computed. */
  begin(header: FlushHeader, onChunk: ChunkListener = null): FlushLines {
    return new GraphiteLines(this, header.timestamp, header.flushIntervalMs, this.suffix, onChunk)
  }

  /** Writes one part's lines; returns how many metrics it counted for numStats. */
  writePart(out: ByteChunks, part: FlushPart, ts: Buffer, suffixes: StatSuffixes): number {
    // A shard's names come as bytes (name-bytes.ts): copied as they are, no string made, unless tagged or sanitised here.
    const named = this.naming.sanitizeNames ? undefined : part.names
    if (named !== undefined) this.namedCounters(out, part.counters, named.counters, ts)
    else for (const c of part.counters) this.counterLines(out, c.name, c.rate, c.value, ts)
    this.writeTimers(out, part.timers, ts, suffixes)
    if (named !== undefined) this.namedGaugesAndSets(out, part, named, ts)
    else {
      for (const g of part.gauges) this.gaugeLine(out, g.name, g.value, ts)
      for (const s of part.sets) this.setLine(out, s.name, s.count, ts)
    }
    return part.counters.length + part.timers.count + part.gauges.length + part.sets.length
  }

  /** counterLines() for counters whose names are `names`. */
  private namedCounters(out: ByteChunks, counters: readonly FlushCounter[], names: NameBytes, ts: Buffer): void {
    const rate = this.naming.legacyNamespace ? '' : '.rate'
    const count = this.naming.legacyNamespace ? '' : '.count'
    for (let i = 0; i < counters.length; i++) {
      const c = counters[i]!
      if (names.tagged(i)) {
        this.counterLines(out, c.name, c.rate, c.value, ts)
        continue
      }
      out.lineNamed(this.counterPrefix, names, i, rate, this.suffix, c.rate, ts)
      if (this.naming.flushCounts) out.lineNamed(this.countPrefix, names, i, count, this.suffix, c.value, ts)
    }
  }

  /** gaugeLine() and setLine() for gauges and sets whose names are bytes. */
  private namedGaugesAndSets(out: ByteChunks, { gauges, sets }: FlushPart, names: PartNames, ts: Buffer): void {
    for (let i = 0; i < gauges.length; i++) {
      if (names.gauges.tagged(i)) this.gaugeLine(out, gauges[i]!.name, gauges[i]!.value, ts)
      else out.lineNamed(this.gaugePrefix, names.gauges, i, '', this.suffix, gauges[i]!.value, ts)
    }
    for (let i = 0; i < sets.length; i++) {
      if (names.sets.tagged(i)) this.setLine(out, sets[i]!.name, sets[i]!.count, ts)
      else out.lineNamed(this.setPrefix, names.sets, i, '.count', this.suffix, sets[i]!.count, ts)
    }
  }

  private setLine(out: ByteChunks, name: string, count: number, ts: Buffer): void {
    const [base, tags] = this.split(name)
    out.line(this.setPrefix, base, '.count', this.suffix, tags, count, ts)
  }

  private counterLines(out: ByteChunks, name: string, rate: number, value: number, ts: Buffer): void {
    const [base, tags] = this.split(name)
    out.line(this.counterPrefix, base, this.naming.legacyNamespace ? '' : '.rate', this.suffix, tags, rate, ts)
    if (this.naming.flushCounts) out.line(this.countPrefix, base, this.naming.legacyNamespace ? '' : '.count', this.suffix, tags, value, ts)
  }

  private gaugeLine(out: ByteChunks, name: string, value: number, ts: Buffer): void {
    const [base, tags] = this.split(name)
    out.line(this.gaugePrefix, base, '', this.suffix, tags, value, ts)
  }

  /**
   * Values with a client timestamp, each at its own time, named as the
   * interval's counters and gauges are (a counter's rate is its count over
   * the flush interval, as Etsy's is). Not in numStats.
   */
  writePoints(out: ByteChunks, points: readonly TimestampedPoint[], flushIntervalMs: number): void {
    for (const p of points) {
      const ts = lineEnd(p.timestamp)
      if (p.kind === 'counter') this.counterLines(out, p.name, p.value / (flushIntervalMs / 1000), p.value, ts)
      else this.gaugeLine(out, p.name, p.value, ts)
    }
  }

  /**
   * Every statistic of every timer, a line each. Per line only the number is
   * formatted; the rest are copies of bytes encoded once: the statistic's
   * suffix (once per flush), and the timer's name, written once per timer
   * right after its first line's end, so that " <timestamp>\n<name>" is one
   * copy for each further line.
   */
  private writeTimers(out: ByteChunks, timers: TimerColumns, ts: Buffer, suffixes: StatSuffixes): void {
    const encoded = suffixes.of(timers.statNames)
    const { ids, values } = timers
    const prefix = this.timerPrefixBytes
    const fixedBytes = ts.length + prefix.length + 1 + suffixes.longest + MAX_NUMBER_BYTES
    let first = 0
    for (let t = 0; t < timers.count; first = timers.ends[t++]!) {
      const end = timers.ends[t]!
      if (first === end) continue
      // A shard's names are bytes (name-bytes.ts), copied as they are; no string is made of them.
      const bytes = timers.nameBytes
      const name = bytes === null ? timers.names[t]! : ''
      if ((bytes === null ? name.indexOf(';') >= 0 : bytes.tagged(t)) || this.naming.sanitizeNames) {
        this.writeTimerSlowly(out, timers, t, ts)
        continue
      }
      out.reserve((end - first) * (fixedBytes + (bytes === null ? 3 * name.length : bytes.length(t))))
      const nameStart = out.pos
      out.copy(prefix)
      if (bytes === null) out.text(name)
      else out.name(bytes, t)
      out.byte(DOT)
      const nameEnd = out.pos
      out.copy(encoded[ids[first]!]!)
      out.number(values[first]!)
      if (first + 1 === end) {
        out.copy(ts)
        continue
      }
      const headStart = out.pos
      out.copy(ts)
      out.buf.copyWithin(out.pos, nameStart, nameEnd)
      out.pos += nameEnd - nameStart
      const headEnd = out.pos
      for (let i = first + 1; i < end; i++) {
        if (i > first + 1) out.repeat(headStart, headEnd)
        out.copy(encoded[ids[i]!]!)
        out.number(values[i]!)
      }
      out.copy(ts)
    }
  }

  /** A timer with Graphite tags, or whose name is sanitised here: each line written whole. */
  private writeTimerSlowly(out: ByteChunks, timers: TimerColumns, t: number, ts: Buffer): void {
    const [base, tags] = this.split(timers.names[t]!)
    for (let i = timers.start(t); i < timers.ends[t]!; i++) {
      out.line(this.timerPrefix, base, '.' + timers.statNames[timers.ids[i]!]!, this.suffix, tags, timers.values[i]!, ts)
    }
  }

  /** numStats, the calculation and processing times, and the server's own figures. */
  writeTrailer(out: ByteChunks, numStats: number, trailer: FlushTrailer, calculationTime: number, ts: Buffer): void {
    out.line(this.numStatsName, '', '', this.suffix, '', numStats, ts)
    out.line(this.statsPrefix, 'graphiteStats.calculationtime', '', this.suffix, '', calculationTime, ts)
    out.line(this.statsPrefix, 'processing_time', '', this.suffix, '', trailer.processingTime, ts)
    for (const m of trailer.selfMetrics) out.line(this.statsPrefix, m.name, '', this.suffix, '', m.value, ts)
  }

  /** The lines Etsy appends once connected, stamped with the time of sending. */
  formatHealth(health: GraphiteHealth, timestamp: number): string {
    const ts = ` ${timestamp}\n`
    const p = this.statsPrefix + 'graphiteStats.'
    return (
      p + 'last_exception' + this.suffix + ' ' + health.lastException + ts +
      p + 'last_flush' + this.suffix + ' ' + health.lastFlush + ts +
      p + 'flush_time' + this.suffix + ' ' + health.flushTime + ts +
      p + 'flush_length' + this.suffix + ' ' + health.flushLength + ts
    )
  }

  /** "name;k=v;k2=v2" -> ["name", ";k=v;k2=v2"]: Graphite tags go after the suffix. */
  private split(name: string): [string, string] {
    const semicolon = name.indexOf(';')
    let base = semicolon < 0 ? name : name.slice(0, semicolon)
    if (this.naming.sanitizeNames) base = sanitizeKeyName(base)
    return [base, semicolon < 0 ? '' : name.slice(semicolon)]
  }
}
