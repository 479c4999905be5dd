import { KeyGroup, type Kind, ROOT, TRANSPORT_CODE, type Transport, kindOf, perLine } from './workload'

/*
 * What came back from the server, checked against what was sent. Totals are
 * compared once the run has settled; each received value is also checked on
 * its own where that is unambiguous (a counter's count is a whole number of
 * lines, a gauge only moves one way, a timer's values are in range).
 */

/** Timer statistics the ledger reads; the index also picks the duplicate-detection slot. */
const TIMER_STATS: Record<string, number> = { count: 0, sum: 1, lower: 2, upper: 3 }

/**
 * Self-metric names (under prefixStats) that count input the server refused
 * or lost: queue.dropped_packets, udp.<listener>.kernel_drops,
 * stream.refused_connections, auth.<listener>.rejected_lines (its per-reason
 * breakdown is left out, not to count twice).
 */
const DROP_NAME = /drop|refused|rejected_lines/i

const MAX_EXAMPLES = 5

interface Received {
  /** counters/timers/sets: sum of counts; gauges: the value with the latest timestamp. */
  got: Float64Array
  sum: Float64Array
  min: Float64Array
  max: Float64Array
  /** Latest timestamp seen per key and statistic (see TIMER_STATS), to spot re-sent values. */
  lastTs: Float64Array[]
}

export interface GroupResult {
  transport: Transport
  phase: string
  sent: number
  received: number
  lost: number
  extra: number
  wrong: number
}

/** Figures the server reported about itself, summed over the flushes received. */
export interface ServerFigures {
  badLines: number
  packetsReceived: number
  metricsReceived: number
  /** Self-metrics that count drops, by name (relative to prefixStats). */
  drops: Map<string, number>
}

/** What is wrong with a flush's count of `n` lines when `limit` have been sent so far, or null. */
function lineCount(n: number, limit: number): string | null {
  if (!Number.isInteger(n) || n < 0) return `not a whole number of lines (${n})`
  return n <= limit ? null : `${n} lines counted, only ${limit} sent so far`
}

export class Ledger {
  private readonly groups = new Map<string, { group: KeyGroup; rx: Received }>()
  /** Received lines' worth of workload, per transport, as values arrive (for the live receive rate). */
  readonly receivedLines: Record<Transport, number> = { udp: 0, tcp: 0, 'tcp-short': 0, unix: 0 }
  /** Values that fail a per-flush check (counted per transport), with a few examples. */
  readonly wrongValues: Record<Transport, number> = { udp: 0, tcp: 0, 'tcp-short': 0, unix: 0 }
  readonly examples: string[] = []
  /** The same name and timestamp received again (a re-sent flush): harmless for Graphite, not counted twice. */
  duplicates = 0
  outOfOrder = 0
  /** Workload-looking names that match no key sent (wrong name, tags, token not stripped...). */
  unknownNames = 0
  readonly server: ServerFigures = { badLines: 0, packetsReceived: 0, metricsReceived: 0, drops: new Map() }
  private readonly serverLastTs = new Map<string, number>()
  private readonly retired = new Set<string>()
  /** Set to stop counting (the run is over; a last flush at server shutdown is not part of it). */
  closed = false

  constructor(private readonly prefixStats = 'statsd') {}

  add(group: KeyGroup): void {
    const n = group.keys
    const rx: Received = {
      got: new Float64Array(n),
      sum: new Float64Array(n),
      min: new Float64Array(n).fill(Infinity),
      max: new Float64Array(n).fill(-Infinity),
      lastTs: [0, 1, 2, 3].map(() => new Float64Array(n)),
    }
    this.groups.set(`${group.phase}.${TRANSPORT_CODE[group.transport]}`, { group, rx })
  }

  /** Forgets a finished phase's keys (a ramp keeps only the results); their gauges, still flushed, are ignored. */
  drop(group: KeyGroup): void {
    const id = `${group.phase}.${TRANSPORT_CODE[group.transport]}`
    this.groups.delete(id)
    this.retired.add(id)
  }

  /** One Graphite plaintext line: "name value timestamp". */
  line(name: string, valueText: string, ts: number): void {
    if (this.closed) return
    const semi = name.indexOf(';')
    const base = semi < 0 ? name : name.slice(0, semi)
    const tags = semi < 0 ? '' : name.slice(semi)
    let rest: string
    let type: 'count' | 'timer' | 'gauge' | 'set' | 'rate'
    if (base.startsWith('stats_counts.')) [type, rest] = ['count', base.slice(13)]
    else if (base.startsWith('stats.timers.')) [type, rest] = ['timer', base.slice(13)]
    else if (base.startsWith('stats.gauges.')) [type, rest] = ['gauge', base.slice(13)]
    else if (base.startsWith('stats.sets.')) [type, rest] = ['set', base.slice(11)]
    else if (base.startsWith('stats.')) [type, rest] = ['rate', base.slice(6)]
    else return
    if (rest.startsWith(this.prefixStats + '.')) {
      this.serverFigure(type, rest.slice(this.prefixStats.length + 1), Number(valueText), ts)
      return
    }
    if (!rest.startsWith(ROOT + '.') && !rest.includes(`.${ROOT}.`)) return // someone else's metric
    if (type === 'rate') return
    let stat = ''
    if (type === 'timer' || type === 'set') {
      const dot = rest.lastIndexOf('.')
      stat = rest.slice(dot + 1)
      rest = rest.slice(0, dot)
      if (type === 'set' && stat !== 'count') return this.unknown(name)
      if (type === 'timer' && TIMER_STATS[stat] === undefined) return
    }
    // soak.<phase>.<transport>.<kind>.k<index>
    const parts = rest.split('.')
    if (this.retired.has(`${parts[1]}.${parts[2]}`)) return
    const entry = parts.length === 5 && parts[0] === ROOT ? this.groups.get(`${parts[1]}.${parts[2]}`) : undefined
    const k = parts[4]?.startsWith('k') ? Number(parts[4].slice(1)) : NaN
    if (entry === undefined || !(k >= 0 && k < entry.group.keys) || kindOf(k) !== parts[3]) return this.unknown(name)
    const kind = kindOf(k)
    const expectedType = kind[0] === 'c' ? 'count' : kind[0] === 'g' ? 'gauge' : kind === 's' ? 'set' : 'timer'
    const transport = entry.group.transport
    if (type !== expectedType || tags !== KeyGroup.expectedTags(k, transport)) return this.unknown(name)

    const slot = type === 'timer' ? TIMER_STATS[stat]! : 0
    const last = entry.rx.lastTs[slot]!
    if (ts === last[k]) {
      this.duplicates++
      return
    }
    const newest = ts > last[k]!
    if (newest) last[k] = ts
    else this.outOfOrder++
    const value = Number(valueText)
    const problem = this.check(entry.group, entry.rx, k, kind, stat, value, newest)
    if (problem !== null) {
      this.wrongValues[transport]++
      if (this.examples.length < MAX_EXAMPLES) this.examples.push(`${name} ${valueText} ${ts}: ${problem}`)
    }
  }

  private unknown(name: string): void {
    this.unknownNames++
    if (this.examples.length < MAX_EXAMPLES) this.examples.push(`${name}: not a key the harness sent`)
  }

  /** Applies one value; returns what is wrong with it on its own, or null. */
  private check(group: KeyGroup, rx: Received, k: number, kind: Kind, stat: string, value: number, newest: boolean): string | null {
    if (!Number.isFinite(value)) return 'not a finite number'
    const limit = group.generated(k)
    const lines = this.receivedLines
    switch (kind) {
      case 'c':
      case 'cr':
      case 's': {
        rx.got[k]! += value
        const n = value / perLine(k)
        lines[group.transport] += n
        return lineCount(n, limit)
      }
      case 'ms':
      case 'msr': {
        if (stat === 'count') {
          rx.got[k]! += value
          const n = value / perLine(k)
          lines[group.transport] += n
          return lineCount(n, limit)
        }
        if (stat === 'sum') rx.sum[k]! += value
        else if (stat === 'lower') rx.min[k] = Math.min(rx.min[k]!, value)
        else rx.max[k] = Math.max(rx.max[k]!, value)
        return Number.isInteger(value) && value >= 0 && (stat === 'sum' || value < 1000) ? null : `timer ${stat} out of range`
      }
      case 'g':
      case 'gp':
      case 'gn': {
        const signed = kind === 'gn' ? -value : value
        if (!newest) return null // a re-sent older flush: the newer value stands
        const previous = kind === 'gn' ? -rx.got[k]! : rx.got[k]!
        rx.got[k] = value
        lines[group.transport] += signed - previous
        if (!Number.isInteger(signed) || signed < 1 || signed > limit) return `gauge outside 1..${limit}`
        return signed >= previous ? null : `gauge went back from ${previous} to ${signed}`
      }
    }
  }

  private serverFigure(type: string, name: string, value: number, ts: number): void {
    const key = type + ' ' + name
    if (this.serverLastTs.get(key) === ts) return // re-sent flush
    this.serverLastTs.set(key, ts)
    if (type === 'count') {
      if (name === 'bad_lines_seen') this.server.badLines += value
      else if (name === 'packets_received') this.server.packetsReceived += value
      else if (name === 'metrics_received') this.server.metricsReceived += value
    } else if (type === 'rate' && DROP_NAME.test(name) && !['bad_lines_seen', 'packets_received', 'metrics_received'].includes(name)) {
      this.server.drops.set(name, (this.server.drops.get(name) ?? 0) + value)
    }
  }

  /** Lost, extra and wrong for one group, once nothing more is in flight. */
  resultOf(group: KeyGroup): GroupResult {
    const entry = this.groups.get(`${group.phase}.${TRANSPORT_CODE[group.transport]}`)!
    return this.result(group, entry.rx)
  }

  private result(group: KeyGroup, rx: Received): GroupResult {
    const r: GroupResult = { transport: group.transport, phase: group.phase, sent: 0, received: 0, lost: 0, extra: 0, wrong: 0 }
    for (let k = 0; k < group.keys; k++) {
      const sent = group.sent[k]!
      const kind = kindOf(k)
      let got: number
      if (kind === 'g') {
        // Only the last value is observable: a missing final value counts as one line lost.
        got = sent === 0 ? 0 : rx.got[k] === group.maxValue[k] ? sent : rx.got[k]! < group.maxValue[k]! ? sent - 1 : sent + 1
      } else if (kind === 'gn') got = -rx.got[k]!
      else if (kind === 'gp') got = rx.got[k]!
      else got = rx.got[k]! / perLine(k)
      r.sent += sent
      if (!Number.isInteger(got)) {
        r.wrong++
        continue
      }
      r.received += Math.min(got, sent)
      if (got < sent) r.lost += sent - got
      if (got > sent) r.extra += got - sent
      if ((kind === 'ms' || kind === 'msr') && got === sent && sent > 0) {
        if (rx.sum[k] !== group.valueSum[k] || rx.min[k] !== group.minValue[k] || rx.max[k] !== group.maxValue[k]) r.wrong++
      }
    }
    return r
  }
}
