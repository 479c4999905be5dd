import t from 'tap'
import dgram from 'node:dgram'
import { once } from 'node:events'
import net from 'node:net'
import type { FlushData } from '../src/aggregate/flush-data'
import { InfluxdbBackend } from '../src/backends/influxdb/influxdb'
import { influxLines } from '../src/backends/influxdb/line-protocol'
import { PrometheusSeries } from '../src/backends/prometheus/exposition'
import { promName } from '../src/backends/prometheus/series'
import { PrometheusBackend } from '../src/backends/prometheus/prometheus'
import { issuesToError } from '../src/config/errors'
import { RepeaterBackend } from '../src/backends/repeater/repeater'
import { configSchema, type InfluxdbBackendConfig, type PrometheusBackendConfig, type RepeaterBackendConfig } from '../src/config/schema'
import { silentLogger } from '../src/log'
import { startRecordingHttp, startSlowReader } from './helpers/backend-fakes'
import { sendUdp, shortTempDir } from './helpers/net'
import { ServerProcess } from './helpers/server-process'
import { startFakeGraphite } from './helpers/fake-graphite'

function data(over: Partial<FlushData> = {}): FlushData {
  return {
    timestamp: 1_700_000_000,
    flushIntervalMs: 10_000,
    counters: [{ name: 'api.hits;region=eu;host=a b', value: 20, rate: 2 }],
    timers: [{ name: 'api.latency', stats: [['count', 4], ['sum', 100], ['mean', 25], ['upper_90', 40], ['upper_99_9', 41]] }],
    gauges: [{ name: 'queue depth', value: 3.5 }],
    sets: [{ name: 'users', count: 7 }],
    processingTime: 2,
    selfMetrics: [{ name: 'queue.dropped_packets', value: 0 }],
    ...over,
  }
}

const backendCfg = <T>(cfg: object): T => configSchema.parse({ backends: [cfg] }).backends[0] as T

t.test('influx line protocol: one point per metric, timer stats as fields, tags as tags', async (t) => {
  t.equal(
    [...influxLines(data(), 'statsd', Infinity)].join(''),
    [
      'api.hits,host=a\\ b,region=eu count=20,rate=2 1700000000',
      'api.latency count=4,sum=100,mean=25,upper_90=40,upper_99_9=41 1700000000',
      'queue\\ depth value=3.5 1700000000',
      'users count=7 1700000000',
      'statsd.numStats value=4 1700000000',
      'statsd.processing_time value=2 1700000000',
      'statsd.queue.dropped_packets value=0 1700000000',
      '',
    ].join('\n'),
  )
})

t.test('influx config: 1.x or 2.x, named clearly when mixed or incomplete', async (t) => {
  const problem = (cfg: object): string => {
    const parsed = configSchema.safeParse({ backends: [cfg] })
    return parsed.success ? 'accepted' : issuesToError('c.json', configSchema, parsed.error.issues).message
  }
  t.match(problem({ type: 'influxdb', url: 'http://x:8086' }), 'c.json: backends[0].database: set either "database"')
  t.match(problem({ type: 'influxdb', url: 'http://x:8086', database: 'd', bucket: 'b' }), 'backends[0].database: set either')
  t.match(problem({ type: 'influxdb', url: 'http://x:8086', org: 'o', bucket: 'b' }), 'backends[0].token: InfluxDB 2.x needs')
  t.match(problem({ type: 'influxdb', url: 'ftp://x', database: 'd' }), 'backends[0].url: ')
  t.equal(problem({ type: 'influxdb', url: 'http://x:8086', database: 'd' }), 'accepted')
})

t.test('influx 1.x and 2.x requests; a large flush is split by batchBytes; a 400 is dropped, not retried', async (t) => {
  const v1 = await startRecordingHttp(t)
  const one = new InfluxdbBackend(
    backendCfg<InfluxdbBackendConfig>({ type: 'influxdb', url: `http://127.0.0.1:${v1.port}/`, database: 'stats db', batchBytes: 300 }),
    'statsd',
    silentLogger(),
  )
  const many = data({ gauges: Array.from({ length: 20 }, (_, i) => ({ name: `g${i}`, value: i })) })
  await one.flush(many)
  await one.close()
  t.ok(v1.requests.length > 2, `${v1.requests.length} requests`)
  t.ok(v1.requests.every((r) => r.url === '/write?db=stats+db&precision=s' && r.method === 'POST'))
  t.ok(v1.requests.every((r) => Buffer.byteLength(r.body) <= 300 && r.body.endsWith('\n')))
  t.equal(v1.requests.map((r) => r.body).join(''), [...influxLines(many, 'statsd', Infinity)].join(''), 'nothing lost or repeated')
  t.equal(one.stats().delivered, 1)

  const v2 = await startRecordingHttp(t)
  const two = new InfluxdbBackend(
    backendCfg<InfluxdbBackendConfig>({ type: 'influxdb', url: `http://127.0.0.1:${v2.port}`, org: 'acme', bucket: 'b', token: 's3cret' }),
    'statsd',
    silentLogger(),
  )
  await two.flush(data())
  await two.close()
  t.equal(v2.requests[0]!.url, '/api/v2/write?org=acme&bucket=b&precision=s')
  t.equal(v2.requests[0]!.headers.authorization, 'Token s3cret')

  const bad = await startRecordingHttp(t, 400)
  const refused = new InfluxdbBackend(
    backendCfg<InfluxdbBackendConfig>({ type: 'influxdb', url: `http://127.0.0.1:${bad.port}`, database: 'd', retryInitialMs: 10 }),
    'statsd',
    silentLogger(),
  )
  await refused.flush(data())
  await refused.close()
  t.equal(bad.requests.length, 1, 'not sent again')
  t.match(refused.stats(), { delivered: 0, failedAttempts: 1, flushesDropped: 1 })
})

t.test('prometheus: statsd_exporter names, labels, counters add up, timers are summaries in seconds', async (t) => {
  t.equal(promName('api.hits-total'), 'api_hits_total')
  t.equal(promName('5xx.errors'), '_5xx_errors')
  const series = new PrometheusSeries('statsd')
  for (const _ of series.apply(data(), 1000));
  for (const _ of series.apply(data({ gauges: [], sets: [] }), 2000));
  const text = [...series.render(Infinity)].join('')
  t.match(text, '# TYPE api_hits counter\napi_hits{host="a b",region="eu"} 40\n')
  t.match(text, '# TYPE api_latency summary\napi_latency{quantile="0.9"} 0.04\napi_latency{quantile="0.999"} 0.041\napi_latency_sum 0.2\napi_latency_count 8\n')
  t.match(text, '# TYPE queue_depth gauge\nqueue_depth 3.5\n')
  t.match(text, '# TYPE users gauge\nusers 7\n')
  t.match(text, 'statsd_queue_dropped_packets 0\n')
  for (const _ of series.expire(1500));
  const later = [...series.render(Infinity)].join('')
  t.notMatch(later, 'queue_depth', 'a series not updated since expires')
  t.match(later, 'api_hits{host="a b",region="eu"} 40')
  for (const _ of series.apply(data({ counters: [], timers: [], sets: [], gauges: [{ name: 'api.hits', value: 1 }] }), 3000));
  t.equal(series.conflicts, 1, 'a gauge under a counter name is skipped and counted')
})

t.test('prometheus: label names Prometheus can parse (the series model shared with remote_write)', async (t) => {
  const series = new PrometheusSeries('statsd')
  const counters = [
    { name: 'tagged;a:b=1;quantile=x;empty=', value: 1, rate: 1 },
    { name: 'tagged;quantile=x;a:b=1', value: 2, rate: 1 },
  ]
  for (const _ of series.apply(data({ counters, timers: [], gauges: [], sets: [] }), 1000));
  t.match([...series.render(Infinity)].join(''), '\ntagged{a_b="1",exported_quantile="x"} 3\n', 'fixed names, the same tags in any order are one series')
})

t.test('prometheus: served over HTTP on the configured path', async (t) => {
  const backend = new PrometheusBackend(
    backendCfg<PrometheusBackendConfig>({ type: 'prometheus', port: 0 }),
    'statsd',
    silentLogger(),
  )
  await backend.start()
  t.teardown(() => backend.close())
  await backend.flush(data())
  const res = await fetch(`http://127.0.0.1:${backend.port}/metrics`)
  t.equal(res.headers.get('content-type'), 'text/plain; version=0.0.4; charset=utf-8')
  t.match(await res.text(), 'users 7\n')
  t.equal((await fetch(`http://127.0.0.1:${backend.port}/other`)).status, 404)
  t.equal(backend.stats().delivered, 1)
})

t.test('repeater: every packet forwarded raw over UDP, bad lines included, while metrics still flush', async (t) => {
  const target = dgram.createSocket('udp4')
  target.bind(0, '127.0.0.1')
  await once(target, 'listening')
  t.teardown(() => target.close())
  const got: string[] = []
  target.on('message', (msg) => got.push(msg.toString()))
  const { graphite, port } = await startFakeGraphite(t)
  const server = await ServerProcess.start(shortTempDir(t), {
    listeners: [{ type: 'udp', port: 0 }, { type: 'tcp', port: 0 }],
    flushInterval: 300,
    backends: [
      { type: 'repeater', targets: [{ host: '127.0.0.1', port: target.address().port }] },
      { type: 'graphite', host: '127.0.0.1', port },
    ],
  })
  t.teardown(() => server.kill())
  const packets = ['a:1|c', 'b:2|c\nnot a metric\nc:3|ms', 'd:4|g\n']
  await sendUdp(server.endpoints.udp[0]!, packets)
  while (got.length < packets.length) await once(target, 'message')
  t.strictSame(got, packets, 'raw and in order')
  await graphite.waitForFlush((v) => v.get('stats_counts.a') === '1')
  t.equal(await server.stop(), 0)
})

t.test('repeater over TCP: one connection, a newline added where a packet lacks one; a slow target drops, counted', async (t) => {
  const chunks: Buffer[] = []
  const receiver = net.createServer((socket) => socket.on('data', (c: Buffer) => chunks.push(c)))
  receiver.listen(0, '127.0.0.1')
  await once(receiver, 'listening')
  t.teardown(() => receiver.close())
  const cfg = backendCfg<RepeaterBackendConfig>({
    type: 'repeater',
    protocol: 'tcp',
    targets: [{ host: '127.0.0.1', port: (receiver.address() as net.AddressInfo).port }],
  })
  const repeater = new RepeaterBackend(cfg, silentLogger())
  repeater.tap(Buffer.from('a:1|c'))
  repeater.tap(Buffer.from('b:2|c\nc:3|c\n'))
  await new Promise((resolve) => setTimeout(resolve, 50))
  repeater.tap(Buffer.from('d:4|g'))
  await repeater.close()
  await new Promise((resolve) => setTimeout(resolve, 50))
  t.equal(Buffer.concat(chunks).toString(), 'a:1|c\nb:2|c\nc:3|c\nd:4|g\n')
  t.match(repeater.stats(), { delivered: 2, flushesDropped: 0 })

  const slow = await startSlowReader(t, 1_000)
  const stuck = new RepeaterBackend(
    backendCfg<RepeaterBackendConfig>({
      type: 'repeater',
      protocol: 'tcp',
      targets: [{ host: '127.0.0.1', port: slow.port }],
      timeoutMs: 200,
      maxQueueBytes: 512 * 1024,
    }),
    silentLogger(),
  )
  const line = Buffer.from('x'.repeat(1023) + '\n')
  for (let i = 0; i < 40; i++) {
    for (let j = 0; j < 256; j++) stuck.tap(line) // 256 KiB per turn, 10 MiB in all
    await new Promise((resolve) => setImmediate(resolve))
    t.ok(stuck.stats().bytesQueued <= 512 * 1024 + 256 * 1024, 'bounded')
  }
  await stuck.close()
  t.ok(stuck.stats().flushesDropped > 0, `${stuck.stats().flushesDropped} batches dropped, counted`)
})
