import type { FlushData } from '../aggregate/flush-data'
import type { GraphiteBackendConfig } from '../config/schema'
import { sanitizeKeyName } from '../parse/key-name'

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
    let out = ''
    for (const chunk of this.chunks(data, calculationStarted, Infinity)) out += chunk
    return out
  }

  /**
   * The same text in pieces of about `chunkChars` characters, ending on a line,
   * so a caller can encode each piece and yield to the event loop between them.
   */
  *chunks(data: FlushData, calculationStarted: number, chunkChars: number): Generator<string> {
    const ts = ` ${data.timestamp}\n`
    const legacy = this.naming.legacyNamespace
    let out = ''
    let numStats = 0
    for (const c of data.counters) {
      const [base, tags] = this.split(c.name)
      if (legacy) {
        out += this.counterPrefix + base + this.suffix + tags + ' ' + c.rate + ts
        if (this.naming.flushCounts) out += this.countPrefix + base + this.suffix + tags + ' ' + c.value + ts
      } else {
        out += this.counterPrefix + base + '.rate' + this.suffix + tags + ' ' + c.rate + ts
        if (this.naming.flushCounts) out += this.countPrefix + base + '.count' + this.suffix + tags + ' ' + c.value + ts
      }
      numStats++
      if (out.length >= chunkChars) {
        yield out
        out = ''
      }
    }
    for (const t of data.timers) {
      const [base, tags] = this.split(t.name)
      const prefix = this.timerPrefix + base + '.'
      for (const [stat, value] of t.stats) out += prefix + stat + this.suffix + tags + ' ' + value + ts
      numStats++
      if (out.length >= chunkChars) {
        yield out
        out = ''
      }
    }
    for (const g of data.gauges) {
      const [base, tags] = this.split(g.name)
      out += this.gaugePrefix + base + this.suffix + tags + ' ' + g.value + ts
      numStats++
      if (out.length >= chunkChars) {
        yield out
        out = ''
      }
    }
    for (const s of data.sets) {
      const [base, tags] = this.split(s.name)
      out += this.setPrefix + base + '.count' + this.suffix + tags + ' ' + s.count + ts
      numStats++
      if (out.length >= chunkChars) {
        yield out
        out = ''
      }
    }
    out += this.numStatsName + this.suffix + ' ' + numStats + ts
    out += this.statsPrefix + 'graphiteStats.calculationtime' + this.suffix + ' ' + (Date.now() - calculationStarted) + ts
    out += this.statsPrefix + 'processing_time' + this.suffix + ' ' + data.processingTime + ts
    for (const m of data.selfMetrics) out += this.statsPrefix + m.name + this.suffix + ' ' + m.value + ts
    yield out
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
