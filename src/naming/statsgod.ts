import { asPart, type FlushData, type FlushHeader, type FlushPart } from '../aggregate/flush-data'
import type { TimestampedPoint } from '../aggregate/timestamped-points'
import { ByteChunks } from '../backends/byte-chunks'
import { type ChunkListener, type FlushLines, type GraphiteHealth, lineEnd } from '../backends/graphite-format'
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
    const lines = this.begin(data)
    lines.write(asPart(data))
    return Buffer.concat(lines.end(data, Date.now() - calculationStarted).chunks).toString()
  }

  /** One flush's lines, written part by part (see GraphiteFormatter.begin). */
  begin(header: FlushHeader, onChunk: ChunkListener = null): FlushLines {
    const out = new ByteChunks(onChunk)
    const ts = lineEnd(header.timestamp)
    return {
      write: (part) => this.writePart(out, part, ts),
      end: (trailer, calculationTime) => {
        out.line(this.statsPrefix, 'graphiteStats.calculationtime', '', '', '', calculationTime, ts)
        out.line(this.statsPrefix, 'processing_time', '', '', '', trailer.processingTime, ts)
        for (const m of trailer.selfMetrics) out.line(this.statsPrefix, m.name, '', '', '', m.value, ts)
        this.writePoints(out, trailer.points ?? [], header.flushIntervalMs)
        return out.finish()
      },
    }
  }

  private writePart(out: ByteChunks, part: FlushPart, ts: Buffer): void {
    for (const c of part.counters) {
      this.line(out, 'rates', c.name, '', c.rate, ts)
      this.line(out, 'counters', c.name, '', c.value, ts)
    }
    const timers = part.timers
    for (let t = 0; t < timers.count; t++) {
      for (let i = timers.start(t); i < timers.ends[t]!; i++) {
        const stat = timers.statNames[timers.ids[i]!]!
        if (stat === 'rate') this.line(out, 'rates', timers.names[t]!, '', timers.values[i]!, ts)
        else this.line(out, 'timers', timers.names[t]!, '.' + stat, timers.values[i]!, ts)
      }
    }
    for (const g of part.gauges) this.line(out, 'gauges', g.name, '', g.value, ts)
    for (const s of part.sets) this.line(out, 'sets', s.name, '', s.count, ts)
  }

  /** Values with a client timestamp, each at its own time, named as the interval's counters and gauges. */
  private writePoints(out: ByteChunks, points: readonly TimestampedPoint[], flushIntervalMs: number): void {
    for (const p of points) {
      const ts = lineEnd(p.timestamp)
      if (p.kind === 'gauge') {
        this.line(out, 'gauges', p.name, '', p.value, ts)
        continue
      }
      this.line(out, 'rates', p.name, '', p.value / (flushIntervalMs / 1000), ts)
      this.line(out, 'counters', p.name, '', p.value, ts)
    }
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
  private line(out: ByteChunks, group: Group, key: string, stat: string, value: number, ts: Buffer): void {
    const semicolon = key.indexOf(';')
    if (semicolon < 0) out.line(this.prefixes[group], key, stat, this.suffixes[group], '', value, ts)
    else out.line(this.prefixes[group], key.slice(0, semicolon), stat, this.suffixes[group], key.slice(semicolon), value, ts)
  }
}
