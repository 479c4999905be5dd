import type { FlushData } from '../aggregate/flush-data'
import type { GraphiteHealth } from '../backends/graphite-format'
import type { StatsgodNamespace } from '../config/statsgod-namespace-schema'

/*
 * statsgod's Graphite names (acquia/statsgod statsgod/relay.go):
 * [prefix.][typeprefix.]key[.typesuffix][.suffix], an empty part left out.
 *   counter  rates.key (per second), then counts.key (sum)
 *   timer    rates.key (values per second), then timers.key.<stat>
 *   gauge    gauges.key;  set  sets.key (distinct members)
 * The same shape as GraphiteFormatter, so the Graphite backend picks one
 * at construction. The server's own figures (Etsy's internal counters,
 * processing time, self-metrics, backend health) go under
 * [prefix.]<prefixStats>., which statsgod itself does not have.
 */

type Group = keyof StatsgodNamespace['prefixes']

export class StatsgodFormatter {
  private readonly prefixes: Record<Group, string>
  private readonly suffixes: Record<Group, string>
  private readonly statsPrefix: string

  constructor(namespace: StatsgodNamespace, prefixStats: string) {
    const prefix = namespace.prefix !== '' ? namespace.prefix + '.' : ''
    const suffix = namespace.suffix !== '' ? '.' + namespace.suffix : ''
    const groups: Group[] = ['counters', 'gauges', 'rates', 'sets', 'timers']
    const prefixes = {} as Record<Group, string>
    const suffixes = {} as Record<Group, string>
    for (const group of groups) {
      const typePrefix = namespace.prefixes[group]
      const typeSuffix = namespace.suffixes[group]
      prefixes[group] = typePrefix !== '' ? prefix + typePrefix + '.' : prefix
      suffixes[group] = typeSuffix !== '' ? '.' + typeSuffix + suffix : suffix
    }
    this.prefixes = prefixes
    this.suffixes = suffixes
    this.statsPrefix = prefix + prefixStats + '.'
  }

  format(data: FlushData, calculationStarted: number): string {
    let out = ''
    for (const chunk of this.chunks(data, calculationStarted, Infinity)) out += chunk
    return out
  }

  /** The same text in pieces of about `chunkChars` characters, ending on a line (see GraphiteFormatter.chunks). */
  *chunks(data: FlushData, calculationStarted: number, chunkChars: number): Generator<string> {
    const ts = ` ${data.timestamp}\n`
    let out = ''
    for (const c of data.counters) {
      out += this.name('rates', c.name) + ' ' + c.rate + ts
      out += this.name('counters', c.name) + ' ' + c.value + ts
      if (out.length >= chunkChars) {
        yield out
        out = ''
      }
    }
    for (const t of data.timers) {
      for (const [stat, value] of t.stats) {
        out += (stat === 'rate' ? this.name('rates', t.name) : this.name('timers', t.name, '.' + stat)) + ' ' + value + ts
      }
      if (out.length >= chunkChars) {
        yield out
        out = ''
      }
    }
    for (const g of data.gauges) out += this.name('gauges', g.name) + ' ' + g.value + ts
    for (const s of data.sets) out += this.name('sets', s.name) + ' ' + s.count + ts
    out += this.statsPrefix + 'graphiteStats.calculationtime ' + (Date.now() - calculationStarted) + ts
    out += this.statsPrefix + 'processing_time ' + data.processingTime + ts
    for (const m of data.selfMetrics) out += this.statsPrefix + m.name + ' ' + m.value + ts
    yield out
  }

  formatHealth(health: GraphiteHealth, timestamp: number): string {
    const ts = ` ${timestamp}\n`
    const p = this.statsPrefix + 'graphiteStats.'
    return (
      p + 'last_exception ' + health.lastException + ts +
      p + 'last_flush ' + health.lastFlush + ts +
      p + 'flush_time ' + health.flushTime + ts +
      p + 'flush_length ' + health.flushLength + ts
    )
  }

  /** Graphite tags (";k=v", from DogStatsD tags) stay last, after the suffixes. */
  private name(group: Group, key: string, stat = ''): string {
    const semicolon = key.indexOf(';')
    if (semicolon < 0) return this.prefixes[group] + key + stat + this.suffixes[group]
    return this.prefixes[group] + key.slice(0, semicolon) + stat + this.suffixes[group] + key.slice(semicolon)
  }
}
