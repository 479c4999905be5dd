import type { FlushData } from '../../aggregate/flush-data'
import { splitTags } from '../tags'

/*
 * InfluxDB line protocol, one point per metric, timestamps in seconds
 * (the write requests say precision=s):
 *   counter  name,tags count=<value>,rate=<per second>
 *   timer    name,tags count=..,mean=..,upper_90=..   (every timer statistic a field of one point)
 *   gauge    name,tags value=<value>
 *   set      name,tags count=<distinct values>
 *   own      <prefixStats>.<name> value=<value>  (numStats, processing_time, self-metrics)
 * Graphite tags in a name (also what DogStatsD tags became) are Influx tags.
 */

const escapeMeasurement = (s: string): string => s.replace(/[,\s\\]/g, (c) => '\\' + c)
const escapeKey = (s: string): string => s.replace(/[,=\s\\]/g, (c) => '\\' + c)

function seriesKey(name: string): string {
  const { base, tags } = splitTags(name)
  let key = escapeMeasurement(base)
  // Influx wants tags sorted by key for its fastest path.
  for (const [k, v] of tags.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0))) {
    if (v !== '') key += ',' + escapeKey(k) + '=' + escapeKey(v)
  }
  return key
}

/** The flush's points, in pieces of about `chunkChars` characters ending on a line. */
export function* influxLines(data: FlushData, prefixStats: string, chunkChars: number): Generator<string> {
  const ts = ' ' + data.timestamp + '\n'
  let out = ''
  let numStats = 0
  const emit = (name: string, fields: string): void => {
    out += seriesKey(name) + ' ' + fields + ts
  }
  for (const c of data.counters) {
    emit(c.name, 'count=' + c.value + ',rate=' + c.rate)
    numStats++
    if (out.length >= chunkChars) {
      yield out
      out = ''
    }
  }
  for (const t of data.timers) {
    emit(t.name, t.stats.map(([stat, value]) => escapeKey(stat) + '=' + value).join(','))
    numStats++
    if (out.length >= chunkChars) {
      yield out
      out = ''
    }
  }
  for (const g of data.gauges) {
    emit(g.name, 'value=' + g.value)
    numStats++
    if (out.length >= chunkChars) {
      yield out
      out = ''
    }
  }
  for (const s of data.sets) {
    emit(s.name, 'count=' + s.count)
    numStats++
    if (out.length >= chunkChars) {
      yield out
      out = ''
    }
  }
  emit(prefixStats + '.numStats', 'value=' + numStats)
  emit(prefixStats + '.processing_time', 'value=' + data.processingTime)
  for (const m of data.selfMetrics) emit(prefixStats + '.' + m.name, 'value=' + m.value)
  yield out
}
