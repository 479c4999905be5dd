import t from 'tap'
import { Aggregator } from '../src/aggregate/aggregator'
import { TimestampedPoints } from '../src/aggregate/timestamped-points'
import { PassThrough } from 'node:stream'
import { ConsoleBackend } from '../src/backends/console/console'
import { influxLines } from '../src/backends/influxdb/line-protocol'
import { GraphiteFormatter } from '../src/backends/graphite-format'
import { RemoteWriteSeries } from '../src/backends/remote-write/series-state'
import { configSchema, type GraphiteBackendConfig } from '../src/config/schema'
import { silentLogger } from '../src/log'
import { statsgodNamespaceSchema } from '../src/config/statsgod-namespace-schema'
import { StatsgodFormatter } from '../src/naming/statsgod'
import { decodeWrite, flush, startPushReceiver } from './helpers/push-receivers'
import { FakeGraphite } from './helpers/fake-graphite'
import { graphiteValues } from './helpers/graphite-lines'
import { sendUdp } from './helpers/net'
import { ServerProcess, WORKERS } from './helpers/server-process'

/*
 * DogStatsD values with a client timestamp (`T`): points at that time, kept
 * out of the interval's aggregate, counters summed and gauges replaced per
 * name and second within an interval, refused and counted outside the
 * configured window, over the bound, or on a type that takes none; stored
 * at their time by Graphite, InfluxDB and remote write.
 */

const LIMITS = { maxPastSeconds: 3600, maxFutureSeconds: 600, maxPoints: 3 }

t.test('TimestampedPoints: counters sum, gauges replace, the window and the bound refuse', async (t) => {
  const now = 1_800_000_000
  const points = new TimestampedPoints(LIMITS)
  t.equal(points.add('c', 'counter', 5, now - 60, now), null)
  t.equal(points.add('c', 'counter', 6, now - 60, now), null)
  t.equal(points.add('c', 'counter', 1, now - 30, now), null, 'another second is another point')
  t.equal(points.add('g', 'gauge', 1, now - 60, now), null)
  t.equal(points.add('g', 'gauge', 9, now - 60, now), null, 'a gauge point replaced')
  t.equal(points.add('h', 'gauge', 9, now - 60, now), 'too many timestamped points', 'a fourth distinct point is over the bound')
  t.equal(points.add('c', 'counter', 2, now - 30, now), null, 'adding to a kept point is never over the bound')
  t.equal(points.add('c', 'counter', 1, now - 3601, now), 'timestamp too old')
  t.equal(points.add('c', 'counter', 1, now - 3600, now), 'too many timestamped points', 'the window includes its edge')
  t.equal(points.add('c', 'counter', 1, now + 601, now), 'timestamp too far in the future')
  t.equal(points.refuseType(), 'timestamp on a timer, set or gauge delta')
  t.equal(points.refusedThisInterval, 5)
  t.strictSame(points.take(), {
    points: [
      { name: 'c', timestamp: now - 60, kind: 'counter', value: 11 },
      { name: 'g', timestamp: now - 60, kind: 'gauge', value: 9 },
      { name: 'c', timestamp: now - 30, kind: 'counter', value: 3 },
    ],
    accepted: 6,
    refused: 5,
  })
  t.strictSame(points.take(), { points: [], accepted: 0, refused: 0 }, 'the next interval starts empty')
})

t.test('the aggregator: points apart from the interval, with their own self-metrics', async (t) => {
  const nowMs = Date.now()
  const now = Math.floor(nowMs / 1000)
  for (const nativeParsing of [true, false]) {
    const cfg = configSchema.parse({ flushInterval: 10_000 })
    const aggregator = new Aggregator({ ...cfg, dumpMessages: false, nativeParsing }, silentLogger())
    const T = now - 100
    const lines = [
      `x:5|c|T${T}|#env:prod`,
      `x:3|c|@0.5|#env:prod|T${T}`,
      `x:1|c|#env:prod`,
      `g:1|g|T${T}`,
      `g:9|g|T${T}`,
      `g:4|g`,
      `g:+1|g|T${T}`,
      `t:5|ms|T${T}`,
      `s:u|s|T${T}`,
      `old:1|c|T${now - 7200}`,
      `soon:1|c|T${now + 3600}`,
    ]
    aggregator.ingest(Buffer.from(lines.join('\n')))
    const data = aggregator.flush(nowMs)
    t.strictSame(
      data.points,
      [
        { name: 'x;env=prod', timestamp: T, kind: 'counter', value: 11 },
        { name: 'g', timestamp: T, kind: 'gauge', value: 9 },
      ],
      `points (${nativeParsing ? 'with' : 'without'} the fast path)`,
    )
    const counter = (name: string): number | undefined => data.counters.find((c) => c.name === name)?.value
    t.equal(counter('x;env=prod'), 1, 'the interval has only the untimestamped value')
    t.equal(data.gauges.find((g) => g.name === 'g')?.value, 4)
    for (const name of ['t', 's', 'old', 'soon']) {
      t.notOk([...data.counters, ...data.timers, ...data.gauges, ...data.sets].some((m) => m.name === name), `no series ${name}`)
    }
    const self = Object.fromEntries(data.selfMetrics.map((m) => [m.name, m.value]))
    t.equal(self.timestamped_points, 4, 'values kept as points')
    t.equal(self.timestamped_dropped, 5, 'a gauge delta, a timer, a set, too old, too far ahead')
    t.equal(counter('statsd.metrics_received'), lines.length, 'every line counts as received')
    t.equal(counter('statsd.bad_lines_seen'), 0, 'refused points are not bad lines')
    t.strictSame(aggregator.flush(nowMs + 10_000).points, [], 'points go out once')
  }
})

const NOW = 1_800_000_000
const POINTS = [
  { name: 'x;env=prod', timestamp: NOW - 100, kind: 'counter' as const, value: 11 },
  { name: 'g', timestamp: NOW - 100, kind: 'gauge' as const, value: 9 },
]
const flushData = flush({ timestamp: NOW, points: POINTS })

t.test('Graphite (Etsy and statsgod names), InfluxDB and remote write write points at their time', async (t) => {
  const graphite = configSchema.parse({ backends: [{ type: 'graphite', host: '127.0.0.1' }] }).backends[0] as GraphiteBackendConfig
  const naming = { ...graphite, prefixStats: 'statsd', flushCounts: true, sanitizeNames: false }
  const lines = (text: string): string[] => text.split('\n').filter((l) => l.includes(` ${NOW - 100}`))
  t.strictSame(lines(new GraphiteFormatter(naming).format(flushData, Date.now())), [
    'stats.x;env=prod 1.1 1799999900',
    'stats_counts.x;env=prod 11 1799999900',
    'stats.gauges.g 9 1799999900',
  ])
  t.strictSame(lines(new GraphiteFormatter({ ...naming, legacyNamespace: false }).format(flushData, Date.now())), [
    'stats.counters.x.rate;env=prod 1.1 1799999900',
    'stats.counters.x.count;env=prod 11 1799999900',
    'stats.gauges.g 9 1799999900',
  ])
  const statsgod = new StatsgodFormatter(statsgodNamespaceSchema.parse({}), 'statsd')
  t.strictSame(lines(statsgod.format(flushData, Date.now())), [
    'stats.rates.x;env=prod 1.1 1799999900',
    'stats.counts.x;env=prod 11 1799999900',
    'stats.gauges.g 9 1799999900',
  ])

  t.strictSame(lines([...influxLines(flushData, 'statsd', 1 << 20)].join('')), ['x,env=prod count=11,rate=1.1 1799999900', 'g value=9 1799999900'])

  const series = new RemoteWriteSeries({ labels: { instance: 'i', job: 'statsd' }, prefixStats: 'statsd', buckets: [], nativeSchema: null })
  t.strictSame(
    [...series.pointSeries(POINTS, 1)].map((batch) => batch.map((s) => ({ labels: s.labels, samples: s.samples }))),
    [
      [{ labels: [{ name: '__name__', value: 'x' }, { name: 'env', value: 'prod' }, { name: 'instance', value: 'i' }, { name: 'job', value: 'statsd' }], samples: [{ value: 11, timestamp: (NOW - 100) * 1000 }] }],
      [{ labels: [{ name: '__name__', value: 'g' }, { name: 'instance', value: 'i' }, { name: 'job', value: 'statsd' }], samples: [{ value: 9, timestamp: (NOW - 100) * 1000 }] }],
    ],
    'a sample each at T·1000, batched',
  )
})

t.test('console: the points as a list in the flush document', async (t) => {
  const out = new PassThrough()
  const chunks: Buffer[] = []
  out.on('data', (c: Buffer) => chunks.push(c))
  const backend = new ConsoleBackend({ type: 'console', prettyprint: false }, silentLogger(), out)
  await backend.flush(flushData)
  await backend.close()
  t.strictSame(JSON.parse(Buffer.concat(chunks).toString()).timestamped_points, POINTS)
})

t.test('end to end: UDP in, points at their time out to Graphite, InfluxDB and remote write', async (t) => {
  const graphite = new FakeGraphite()
  const graphitePort = await graphite.listen()
  t.teardown(() => graphite.close())
  const influx = await startPushReceiver(t, '/', (body) => body.toString())
  const remote = await startPushReceiver(t, '/api/v1/write', decodeWrite)
  const server = await ServerProcess.start(t.testdir(), {
    listeners: [{ type: 'udp', address: '127.0.0.1', port: 0 }],
    backends: [
      { type: 'graphite', host: '127.0.0.1', port: graphitePort },
      { type: 'influxdb', url: influx.url, database: 'db' },
      { type: 'remote_write', url: remote.url, instance: 'i' },
    ],
    flushInterval: 600_000,
    dogstatsd: { timestampMaxPastSeconds: 600, timestampMaxFutureSeconds: 60 },
  })
  t.teardown(() => server.kill())
  const now = Math.floor(Date.now() / 1000)
  const [t1, t2] = [now - 120, now - 60]
  await sendUdp(server.endpoints.udp[0]!, [
    `ts.count:5|c|T${t1}|#env:prod\nts.count:3|c|@0.5|#env:prod|T${t1}`,
    `ts.count:2|c|#env:prod|T${t2}`,
    `ts.gauge:1|g|T${t1}\nts.gauge:9|g|T${t1}`,
    `ts.timer:5|ms|T${t1}\nts.set:u|s|T${t1}`,
    `ts.old:1|c|T${now - 700}\nts.future:1|c|T${now + 120}`,
    'ts.plain:1|c',
  ])
  // The first refusal is logged as it happens; the server reads what is queued before its final flush.
  await server.waitForLog('timestamped value refused (first this interval; see timestamped_dropped)')
  t.equal(await server.stop(), 0)
  // Once per interval by each aggregation thread that refused one (test:workers runs this with several).
  const logged = server.logged('timestamped value refused (first this interval; see timestamped_dropped)').length
  t.ok(logged >= 1 && logged <= WORKERS, 'logged once per interval')

  t.equal(graphite.flushes.length, 1)
  const text = graphite.flushes[0]!
  const at = (ts: number): string[] => text.split('\n').filter((l) => l.endsWith(` ${ts}`) && l.includes('ts.'))
  t.strictSame(at(t1).sort(), [`stats.gauges.ts.gauge 9 ${t1}`, `stats.ts.count;env=prod ${11 / 600} ${t1}`, `stats_counts.ts.count;env=prod 11 ${t1}`])
  t.strictSame(at(t2).sort(), [`stats.ts.count;env=prod ${2 / 600} ${t2}`, `stats_counts.ts.count;env=prod 2 ${t2}`])
  const values = graphiteValues(text)
  t.equal(values.get('stats_counts.ts.plain'), '1', 'the untimestamped value is in the interval')
  t.notOk([...values.keys()].some((name) => /ts\.(timer|set|old|future)/.test(name)), 'refused values make no series')
  t.equal(values.get('stats.statsd.timestamped_points'), '5')
  t.equal(values.get('stats.statsd.timestamped_dropped'), '4')
  t.equal(values.get('stats_counts.statsd.metrics_received'), '10')
  t.equal(values.get('stats_counts.statsd.bad_lines_seen'), '0')

  const [request] = await influx.wait(1)
  const influxAt = (ts: number): string[] => request!.body.split('\n').filter((l) => l.endsWith(` ${ts}`))
  t.strictSame(influxAt(t1).sort(), [`ts.count,env=prod count=11,rate=${11 / 600} ${t1}`, `ts.gauge value=9 ${t1}`])
  t.strictSame(influxAt(t2), [`ts.count,env=prod count=2,rate=${2 / 600} ${t2}`])

  const [write] = await remote.wait(1)
  // Oldest first; within one second, in name order here (threads may send one second's points in another order).
  const samples = write!.body
    .filter((s) => s.labels.__name__!.startsWith('ts_'))
    .map((s) => [s.labels.__name__, s.labels.env, s.samples] as const)
    .sort((a, b) => a[2][0]!.timestamp - b[2][0]!.timestamp || a[0]!.localeCompare(b[0]!))
  t.strictSame(
    samples.filter(([name]) => name !== 'ts_plain'),
    [
      ['ts_count', 'prod', [{ value: 11, timestamp: t1 * 1000 }]],
      ['ts_gauge', undefined, [{ value: 9, timestamp: t1 * 1000 }]],
      ['ts_count', 'prod', [{ value: 2, timestamp: t2 * 1000 }]],
    ],
    'oldest first, before the flush series',
  )
})
