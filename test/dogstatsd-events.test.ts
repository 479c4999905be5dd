import t from 'tap'
import { Aggregator } from '../src/aggregate/aggregator'
import type { FlushData } from '../src/aggregate/flush-data'
import { buildAdminApp } from '../src/admin/http/app'
import { renderStatusPage } from '../src/admin/http/status-page'
import { influxLines } from '../src/backends/influxdb/line-protocol'
import { PrometheusSeries } from '../src/backends/prometheus/exposition'
import { RemoteWriteSeries } from '../src/backends/remote-write/series-state'
import { configSchema } from '../src/config/schema'
import { silentLogger } from '../src/log'
import { parseEvent, parseServiceCheck } from '../src/parse/dogstatsd-events'
import { FakeControl } from './helpers/fake-control'

/*
 * DogStatsD events and service checks: read exactly (the examples of
 * Datadog's documentation among them), counted, kept within their bounds,
 * rate-limited, and shown to the admin plane and the backends that take them.
 */

const NOW = 1_800_000_000
const event = (line: string): ReturnType<typeof parseEvent> => parseEvent(Buffer.from(line), 0, Buffer.byteLength(line), NOW)
const check = (line: string): ReturnType<typeof parseServiceCheck> => parseServiceCheck(Buffer.from(line), 0, Buffer.byteLength(line), NOW)

t.test("events: Datadog's examples and every field", async (t) => {
  t.strictSame(event('_e{21,36}:An exception occurred|Cannot parse CSV file from 10.0.0.17|t:warning|#err_type:bad_file'), {
    title: 'An exception occurred',
    text: 'Cannot parse CSV file from 10.0.0.17',
    timestamp: NOW,
    priority: 'normal',
    alertType: 'warning',
    tags: ['err_type:bad_file'],
  })
  const json = '_e{21,42}:An exception occurred|Cannot parse JSON request:\\\\n{"foo: "bar"}|p:low|#err_type:bad_request'
  t.match(event(json), { text: 'Cannot parse JSON request:\\\n{"foo: "bar"}', priority: 'low', tags: ['err_type:bad_request'] }, 'escaped \\n in the text')
  t.strictSame(event('_e{5,4}:title|text|d:1700000000|h:host|k:agg|p:low|s:src|t:info|#env:prod,solo|c:abc|card:low'), {
    title: 'title',
    text: 'text',
    timestamp: 1700000000,
    hostname: 'host',
    aggregationKey: 'agg',
    priority: 'low',
    sourceType: 'src',
    alertType: 'info',
    tags: ['env:prod', 'solo'],
  })
  t.match(event('_e{3,7}:a|b|c|d\\nef'), { title: 'a|b', text: 'c|d\nef' }, 'lengths, not "|", delimit title and text')
  t.match(event('_e{6,3}:héllo|ça'), { title: 'héllo', text: 'ça' }, 'lengths are UTF-8 bytes')
  t.match(event('_e{2,0}:hi|'), { title: 'hi', text: '' }, 'empty text')
  for (const [bad, reason] of [
    ['_e{5,4}:title|tex', 'event lengths do not match'],
    ['_e{5,4}:titl|etext', 'event lengths do not match'],
    ['_e{5,3}:title|text', 'event lengths do not match'],
    ['_e{0,4}:|text', 'empty event title'],
    ['_e{5}:title', 'bad event header'],
    ['_e{5,4}:title|text|p:urgent', 'bad event priority'],
    ['_e{5,4}:title|text|t:fatal', 'bad event alert type'],
    ['_e{5,4}:title|text|d:soon', 'bad event timestamp'],
    ['_e{5,4}:title|text|x:1', 'unknown event field'],
  ]) {
    t.equal(event(bad!), reason, bad)
  }
})

t.test("service checks: Datadog's example and every field", async (t) => {
  t.strictSame(check('_sc|Redis connection|2|#env:dev|m:Redis connection timed out after 10s'), {
    name: 'Redis connection',
    status: 2,
    timestamp: NOW,
    tags: ['env:dev'],
    message: 'Redis connection timed out after 10s',
  })
  t.strictSame(check('_sc|db.up|0|d:1700000000|h:host|#env:prod|c:abc|m:all good|really\\nm\\: fine'), {
    name: 'db.up',
    status: 0,
    timestamp: 1700000000,
    hostname: 'host',
    tags: ['env:prod'],
    message: 'all good|really\nm: fine',
  })
  for (const [bad, reason] of [
    ['_sc||0', 'empty service check name'],
    ['_sc|db|4', 'bad service check status'],
    ['_sc|db', 'bad service check status'],
    ['_sc|db|0|d:x', 'bad service check timestamp'],
    ['_sc|db|0|q:1', 'unknown service check field'],
  ]) {
    t.equal(check(bad!), reason, bad)
  }
})

function aggregator(dogstatsd: object = {}): Aggregator {
  const cfg = configSchema.parse({ flushInterval: 1000, backends: [{ type: 'graphite', host: '127.0.0.1' }], dogstatsd })
  return new Aggregator({ ...cfg, dumpMessages: false }, silentLogger())
}

const self = (data: FlushData): Record<string, number> => Object.fromEntries(data.selfMetrics.map((m) => [m.name, m.value]))

t.test('counted, kept within their bounds, rate-limited, handed to the flush', async (t) => {
  const a = aggregator({ keepEvents: 3, eventsPerSecond: 5 })
  const lines = Array.from({ length: 8 }, (_, i) => `_e{2,1}:e${i}|x`).join('\n') + '\n_sc|db|1\n_sc|db|9\n_e{9,1}:short|x'
  a.ingest(Buffer.from(lines))
  const figures = a.inspect()
  t.equal(figures.events.received, 8)
  t.equal(figures.events.rateLimited, 3, 'over 5 a second')
  t.strictSame(
    figures.events.recent.map((e) => e.title),
    ['e2', 'e3', 'e4'],
    'the last 3 kept',
  )
  t.equal(figures.serviceChecks.recent.length, 1)
  t.equal(figures.badLines, 2, 'a bad check and a bad event are bad lines')
  const flush = a.flush(Date.now())
  t.match(self(flush), { events_received: 8, events_rate_limited: 3, service_checks_received: 1, bad_fields: 0 })
  t.equal(flush.events?.length, 5, "the interval's events for the backends")
  t.strictSame(flush.serviceChecks, [{ name: 'db', status: 1, timestamp: flush.serviceChecks![0]!.timestamp, tags: [] }])
  t.strictSame([...flush.counters, ...flush.timers, ...flush.gauges, ...flush.sets].map((m) => m.name).filter((n) => !n.startsWith('statsd.')), [], 'no series')
  t.equal(a.flush(Date.now()).events?.length, 0, 'each interval its own')

  const small = aggregator({ keepEventBytes: 1000 })
  for (let i = 0; i < 20; i++) small.ingest(Buffer.from(`_e{3,100}:big|${'x'.repeat(100)}`))
  const kept = small.inspect().events.recent.length
  t.ok(kept >= 1 && kept < 5, `bounded in bytes (${kept} kept)`)
})

const FLUSH: FlushData = {
  timestamp: 1700000100,
  flushIntervalMs: 10_000,
  counters: [],
  timers: [],
  gauges: [],
  sets: [],
  processingTime: 0,
  selfMetrics: [],
  events: [
    {
      title: 'Deploy "v2"',
      text: 'line 1\nline 2',
      timestamp: 1700000000,
      hostname: 'web 1',
      priority: 'low',
      alertType: 'success',
      tags: ['env:prod', 'solo'],
    },
  ],
  serviceChecks: [
    { name: 'db.up', status: 2, timestamp: 1700000000, hostname: 'h1', tags: ['env:prod', 'solo'] },
    { name: 'cache.up', status: 0, timestamp: 1700000000, tags: [] },
  ],
}

t.test('InfluxDB: an events measurement at the time of each event', async (t) => {
  const text = [...influxLines(FLUSH, 'statsd', Infinity)].join('')
  t.match(text, '\nevents,alert_type=success,env=prod,host=web\\ 1,priority=low title="Deploy \\"v2\\"",text="line 1\\nline 2",tags="env:prod,solo" 1700000000\n')
})

t.test('Prometheus: a service check is a gauge of its status', async (t) => {
  const series = new PrometheusSeries('statsd')
  for (const _ of series.apply(FLUSH, Date.now()));
  const text = [...series.render(Infinity)].join('')
  t.match(text, /\nservice_check\{check="db.up",(env="prod",host="h1"|host="h1",env="prod")\} 2\n/)
  t.match(text, '\nservice_check{check="cache.up"} 0\n')
})

t.test('remote write: a service check is a gauge of its status', async (t) => {
  const series = new RemoteWriteSeries({ labels: { instance: 'a', job: 'statsd' }, prefixStats: 'statsd', buckets: [], nativeSchema: null })
  series.begin()
  series.writeTrailer(FLUSH)
  const sent = [...series.timeseries(1000, Infinity, { series: 0, stale: 0 })].flat()
  const db = sent.find((ts) => ts.labels.some((l) => l.name === 'check' && l.value === 'db.up'))
  t.ok(db, 'the check is a series')
  t.match(db!.labels, [{ name: '__name__', value: 'service_check' }])
  t.strictSame(
    db!.labels.filter((l) => ['env', 'host'].includes(l.name)).map((l) => `${l.name}=${l.value}`).sort(),
    ['env=prod', 'host=h1'],
  )
  t.equal(db!.samples?.[0]?.value, 2)
})

t.test('admin: /events, /service_checks (read routes) and the status page', async (t) => {
  const control = new FakeControl()
  const app = buildAdminApp({ control })
  t.teardown(() => app.close())
  const events = await app.inject('/events')
  t.equal(events.statusCode, 200)
  t.match(events.json(), { received: 2, rateLimited: 1, recent: [{ title: 'Deploy <b>', tags: ['env:prod'] }] })
  const checks = await app.inject('/service_checks')
  t.match(checks.json(), { received: 1, recent: [{ name: 'db.up', status: 2 }] })
  const page = renderStatusPage(control.snapshot())
  t.match(page, 'Deploy &lt;b&gt;')
  t.match(page, '<td>db.up</td><td>CRITICAL</td><td>down &lt;now&gt;</td>')
})
