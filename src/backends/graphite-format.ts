import type { FlushData, FlushHeader, FlushPart, FlushTrailer } from '../aggregate/flush-data'
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

const SPACE = 0x20
const DOT = 0x2e

/** One flush being written as Graphite lines: each part as it comes, then the trailer. */
export interface FlushLines {
  write(part: FlushPart): void
  end(trailer: FlushTrailer, calculationStarted: number): Payload
}

/** " <timestamp>\n", the end of every line of a flush. */
export function lineEnd(timestamp: number): Buffer {
  return Buffer.from(` ${timestamp}\n`)
}

class GraphiteLines implements FlushLines {
  private readonly out = new ByteChunks()
  private readonly ts: Buffer
  private numStats = 0

  constructor(
    private readonly formatter: GraphiteFormatter,
    timestamp: number,
  ) {
    this.ts = lineEnd(timestamp)
  }

  write(part: FlushPart): void {
    this.numStats += this.formatter.writePart(this.out, part, this.ts)
  }

  end(trailer: FlushTrailer, calculationStarted: number): Payload {
    this.formatter.writeTrailer(this.out, this.numStats, trailer, calculationStarted, this.ts)
    return this.out.finish()
  }
}

export class GraphiteFormatter {
  private readonly counterPrefix: string
  private readonly countPrefix: string
  private readonly timerPrefix: string
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
  }

  /** Every metric of a flush, then numStats and the calculation/processing times. */
  format(data: FlushData, calculationStarted: number): string {
    const lines = this.begin(data)
    lines.write(data)
    return Buffer.concat(lines.end(data, calculationStarted).chunks).toString()
  }

  /** One flush's lines, written part by part into Buffers as the parts are computed. */
  begin(header: FlushHeader): FlushLines {
    return new GraphiteLines(this, header.timestamp)
  }

  /** Writes one part's lines; returns how many metrics it counted for numStats. */
  writePart(out: ByteChunks, part: FlushPart, ts: Buffer): number {
    const legacy = this.naming.legacyNamespace
    const rateStat = legacy ? '' : '.rate'
    const countStat = legacy ? '' : '.count'
    for (const c of part.counters) {
      const [base, tags] = this.split(c.name)
      out.line(this.counterPrefix, base, rateStat, this.suffix, tags, c.rate, ts)
      if (this.naming.flushCounts) out.line(this.countPrefix, base, countStat, this.suffix, tags, c.value, ts)
    }
    for (const t of part.timers) {
      const [base, tags] = this.split(t.name)
      if (t.stats.length === 0) continue
      // The name is written once per timer; each further statistic copies its bytes.
      const room = 3 * (this.timerPrefix.length + base.length + this.suffix.length + tags.length) + MAX_NUMBER_BYTES + ts.length
      let name: Uint8Array | null = null
      for (const [stat, value] of t.stats) {
        out.reserve(room + stat.length)
        if (name === null) {
          const start = out.pos
          out.text(this.timerPrefix)
          out.text(base)
          out.byte(DOT)
          name = out.buf.subarray(start, out.pos)
        } else {
          out.copy(name)
        }
        out.text(stat)
        out.text(this.suffix)
        out.text(tags)
        out.byte(SPACE)
        out.number(value)
        out.copy(ts)
      }
    }
    for (const g of part.gauges) {
      const [base, tags] = this.split(g.name)
      out.line(this.gaugePrefix, base, '', this.suffix, tags, g.value, ts)
    }
    for (const s of part.sets) {
      const [base, tags] = this.split(s.name)
      out.line(this.setPrefix, base, '.count', this.suffix, tags, s.count, ts)
    }
    return part.counters.length + part.timers.length + part.gauges.length + part.sets.length
  }

  /** numStats, the calculation and processing times, and the server's own figures. */
  writeTrailer(out: ByteChunks, numStats: number, trailer: FlushTrailer, calculationStarted: number, ts: Buffer): void {
    out.line(this.numStatsName, '', '', this.suffix, '', numStats, ts)
    out.line(this.statsPrefix, 'graphiteStats.calculationtime', '', this.suffix, '', Date.now() - calculationStarted, ts)
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
