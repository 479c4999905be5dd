import type { FlushData } from '../../aggregate/flush-data'
import type { DogStatsdEvent } from '../../parse/dogstatsd-events'
import { eventAttributes, keyedTags } from '../dogstatsd-events'
import { splitTags } from '../tags'

/*
 * InfluxDB line protocol, one point per metric, timestamps in seconds
 * (the write requests say precision=s):
 *   counter  name,tags count=<value>,rate=<per second>
 *   timer    name,tags count=..,mean=..,upper_90=..   (every timer statistic a field of one point)
 *   gauge    name,tags value=<value>
 *   set      name,tags count=<distinct values>
 *   own      <prefixStats>.<name> value=<value>  (numStats, processing_time, self-metrics)
 *   event    events,alert_type=..,priority=..,tags title="..",text="..",tags=".." <event time>
 *   point    a counter or gauge with a client timestamp (DogStatsD `T`), as
 *            above but at that time; not counted in numStats
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

/** Each metric of the flush as [name, fields]. */
function* metricPoints(data: FlushData): Generator<[string, string]> {
  for (const c of data.counters) yield [c.name, 'count=' + c.value + ',rate=' + c.rate]
  for (const t of data.timers) yield [t.name, t.stats.map(([stat, value]) => escapeKey(stat) + '=' + value).join(',')]
  for (const g of data.gauges) yield [g.name, 'value=' + g.value]
  for (const s of data.sets) yield [s.name, 'count=' + s.count]
}

/** The flush's points, in pieces of about `chunkChars` characters ending on a line. */
export function* influxLines(data: FlushData, prefixStats: string, chunkChars: number): Generator<string> {
  const ts = ' ' + data.timestamp + '\n'
  let out = ''
  let numStats = 0
  for (const [name, fields] of metricPoints(data)) {
    out += seriesKey(name) + ' ' + fields + ts
    numStats++
    if (out.length >= chunkChars) {
      yield out
      out = ''
    }
  }
  const own = (name: string, value: number): void => {
    out += escapeMeasurement(prefixStats + '.' + name) + ' value=' + value + ts
  }
  own('numStats', numStats)
  own('processing_time', data.processingTime)
  for (const m of data.selfMetrics) own(m.name, m.value)
  for (const event of data.events ?? []) out += eventLine(event)
  // Values with a client timestamp: points at their own times, as the interval's counters and gauges are.
  const perSecond = data.flushIntervalMs / 1000
  for (const p of data.points ?? []) {
    const fields = p.kind === 'counter' ? 'count=' + p.value + ',rate=' + p.value / perSecond : 'value=' + p.value
    out += seriesKey(p.name) + ' ' + fields + ' ' + p.timestamp + '\n'
    if (out.length >= chunkChars) {
      yield out
      out = ''
    }
  }
  yield out
}

/**
 * A DogStatsD event as a point of the `events` measurement at its time:
 * alert type, priority, host, source type, aggregation key and "k:v" tags
 * are tags; title, text and every tag as sent (`tags`) are string fields.
 */
function eventLine(event: DogStatsdEvent): string {
  const tags = new Map([...keyedTags(event.tags), ...eventAttributes(event)])
  let key = 'events'
  for (const [k, v] of [...tags].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0))) key += ',' + escapeKey(k) + '=' + escapeKey(v)
  const fields = `title=${stringField(event.title)},text=${stringField(event.text)},tags=${stringField(event.tags.join(','))}`
  return key + ' ' + fields + ' ' + event.timestamp + '\n'
}

/** A string field: quotes and backslashes escaped, and newlines written "\n" (a newline ends a line). */
function stringField(text: string): string {
  return '"' + text.replace(/["\\]/g, (c) => '\\' + c).replace(/\n/g, '\\n') + '"'
}
