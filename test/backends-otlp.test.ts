import os from 'node:os'
import t, { type Test } from 'tap'
import { exponentialHistogram, MAX_SCALE } from '../src/backends/otlp/exponential'
import { OtlpBackend } from '../src/backends/otlp/otlp'
import { configSchema, type OtlpBackendConfig } from '../src/config/schema'
import { silentLogger } from '../src/log'
import { sendStream, shortTempDir } from './helpers/net'
import { flush, startPushReceiver, timer } from './helpers/push-receivers'
import { ServerProcess } from './helpers/server-process'

/*
 * The OTLP exporter against a receiver in the test that decodes with the
 * OpenTelemetry project's own code for opentelemetry-proto (protobufjs
 * static code generated from the official .proto files, shipped in
 * @opentelemetry/otlp-transformer 0.52), not with the exporter's copy of
 * the definitions.
 */

// eslint-disable-next-line @typescript-eslint/no-require-imports
const official = require('@opentelemetry/otlp-transformer/build/src/generated/root') as {
  opentelemetry: { proto: { collector: { metrics: { v1: { ExportMetricsServiceRequest: { decode(b: Uint8Array): unknown; toObject(m: unknown, o: object): unknown } } } } } }
}
const Request = official.opentelemetry.proto.collector.metrics.v1.ExportMetricsServiceRequest

interface DataPoint {
  attributes: { key: string; value: { stringValue: string } }[]
  startTimeUnixNano: string
  timeUnixNano: string
  asDouble?: number
  count?: string
  sum?: number
  scale?: number
  zeroCount?: string
  positive?: { offset: number; bucketCounts: string[] }
  min?: number
  max?: number
}
interface DecodedMetric {
  name: string
  unit: string
  sum?: { dataPoints: DataPoint[]; aggregationTemporality: number; isMonotonic: boolean }
  gauge?: { dataPoints: DataPoint[] }
  exponentialHistogram?: { dataPoints: DataPoint[]; aggregationTemporality: number }
}
interface Decoded {
  resourceMetrics: { resource: { attributes: { key: string; value: { stringValue: string } }[] }; scopeMetrics: { scope: { name: string }; metrics: DecodedMetric[] }[] }[]
}

/** An OTLP receiver: each request decoded by the official code, int64s as strings. */
const startOtlpReceiver = (t: Test, script: number[] = []) =>
  startPushReceiver(t, '/v1/metrics', (body) => Request.toObject(Request.decode(body), { longs: String, defaults: true, arrays: true }) as Decoded, script, 200)

const backendCfg = (cfg: object): OtlpBackendConfig =>
  configSchema.parse({ backends: [{ type: 'otlp', retryInitialMs: 10, ...cfg }] }).backends[0] as OtlpBackendConfig

const metrics = (body: Decoded): DecodedMetric[] => body.resourceMetrics.flatMap((r) => r.scopeMetrics.flatMap((s) => s.metrics))
const metric = (body: Decoded, name: string): DecodedMetric => {
  const found = metrics(body).filter((m) => m.name === name)
  if (found.length !== 1) throw new Error(`${found.length} metrics named ${name}`)
  return found[0]!
}
const attrs = (p: { attributes: DataPoint['attributes'] }): Record<string, string> =>
  Object.fromEntries(p.attributes.map((a) => [a.key, a.value.stringValue]))

/** Checks that each value is in the bucket that counts it: bucket i holds (base^i, base^(i+1)]. */
function checkBuckets(t: Test, values: number[], p: { scale: number; offset: number; counts: number[] }): void {
  const base = 2 ** (2 ** -p.scale)
  const expected = p.counts.map(() => 0)
  for (const v of values) {
    const i = p.counts.findIndex((_, b) => base ** (p.offset + b) < v * (1 + 1e-12) && v <= base ** (p.offset + b + 1) * (1 + 1e-12))
    t.ok(i >= 0, `${v} has a bucket`)
    expected[i]!++
  }
  t.same(p.counts, expected, 'every value counted in its own bucket')
}

t.test('exponential histogram: the finest scale at which the values fit in maxBuckets', async (t) => {
  const one = exponentialHistogram([0.25], 1, 160)
  t.equal(one.scale, MAX_SCALE, 'a single value: the finest scale')
  const values = [0.001, 0.002, 0.0173, 0.5, 1, 1, 7.77, 30]
  for (const maxBuckets of [160, 20, 4]) {
    const h = exponentialHistogram(values, 1, maxBuckets)
    t.ok(h.positive.bucket_counts.length <= maxBuckets, `fits in ${maxBuckets}`)
    t.ok(h.scale === MAX_SCALE || exponentialHistogram([values[0]!, values.at(-1)!], 1, maxBuckets).scale === h.scale, 'the scale the extremes need')
    checkBuckets(t, values, { scale: h.scale, offset: h.positive.offset, counts: h.positive.bucket_counts })
    t.equal(h.count, values.length)
    t.equal(h.min, 0.001)
    t.equal(h.max, 30)
  }
  const zeros = exponentialHistogram([0, 0, 1, -2], 2, 160)
  t.equal(zeros.zeroCount, 4, 'zeros, each standing for 2 events')
  t.equal(zeros.count, 8)
  t.same(zeros.negative.bucket_counts.reduce((a, b) => a + b, 0), 2)
})

t.test('OTLP export, decoded with the official definitions: delta sums, gauges, exponential histograms, resource', async (t) => {
  const receiver = await startOtlpReceiver(t)
  const backend = new OtlpBackend(backendCfg({ url: receiver.url, resource: { 'deployment.environment': 'test' }, headers: { 'X-Tenant': 'a' } }), 'statsd', silentLogger())
  t.teardown(() => backend.close())
  const latencies = [1, 3, 250, 1000, 4321]
  await backend.flush(
    flush({
      counters: [{ name: 'api.hits;dc=eu', value: 5, rate: 0.5 }],
      timers: [timer('api.lat;dc=eu', latencies)],
      gauges: [{ name: 'temp', value: 21.5 }],
      sets: [{ name: 'users', count: 3 }],
    }),
  )
  await backend.flush(flush({ timestamp: 1_700_000_010, counters: [{ name: 'api.hits;dc=eu', value: 2, rate: 0.2 }], timers: [timer('api.lat;dc=eu', [])] }))
  const [first, second] = await receiver.wait(2)
  t.equal(first!.headers['content-type'], 'application/x-protobuf')
  t.equal(first!.headers['x-tenant'], 'a')
  const resource = Object.fromEntries(first!.body.resourceMetrics[0]!.resource.attributes.map((a) => [a.key, a.value.stringValue]))
  t.same(resource, { 'service.name': 'statsd', 'service.instance.id': os.hostname(), 'deployment.environment': 'test' })
  t.equal(first!.body.resourceMetrics[0]!.scopeMetrics[0]!.scope.name, 'statsd-ts')

  const hits = [first, second].map((r) => metric(r!.body, 'api.hits').sum!)
  t.same(hits.map((s) => s.dataPoints[0]!.asDouble), [5, 2], 'delta: each flush its own count, not the running total')
  t.ok(hits.every((s) => s.aggregationTemporality === 1 && s.isMonotonic), 'DELTA, monotonic')
  t.same(attrs(hits[0]!.dataPoints[0]!), { dc: 'eu' }, 'tags are attributes')
  t.equal(hits[0]!.dataPoints[0]!.timeUnixNano, '1700000000000000000')
  t.equal(hits[1]!.dataPoints[0]!.startTimeUnixNano, '1700000000000000000', 'an interval starts where the previous one ended')
  t.equal(hits[0]!.dataPoints[0]!.startTimeUnixNano, '1699999990000000000')

  const lat = metric(first!.body, 'api.lat')
  t.equal(lat.unit, 's')
  t.equal(lat.exponentialHistogram!.aggregationTemporality, 1)
  const p = lat.exponentialHistogram!.dataPoints[0]!
  t.equal(Number(p.count), 5)
  t.ok(Math.abs(p.sum! - 5.575) < 1e-9, 'sum in seconds')
  t.equal(p.min, 0.001)
  t.equal(p.max, 4.321)
  t.same(attrs(p), { dc: 'eu' })
  t.ok(p.positive!.bucketCounts.length <= 160)
  checkBuckets(t, latencies.map((v) => v / 1000), { scale: p.scale!, offset: p.positive!.offset, counts: p.positive!.bucketCounts.map(Number) })
  t.same(metrics(second!.body).filter((m) => m.name === 'api.lat'), [], 'an idle timer has no data point in a delta flush')

  t.equal(metric(first!.body, 'temp').gauge!.dataPoints[0]!.asDouble, 21.5)
  t.equal(metric(first!.body, 'users').gauge!.dataPoints[0]!.asDouble, 3)
  t.equal(metric(first!.body, 'statsd.processing_time').gauge!.dataPoints[0]!.asDouble, 1)
})

t.test('OTLP delivery: 503 retried, 400 dropped and counted, in order', async (t) => {
  const receiver = await startOtlpReceiver(t, [503, 400])
  const backend = new OtlpBackend(backendCfg({ url: receiver.url }), 'statsd', silentLogger())
  await backend.flush(flush({ counters: [{ name: 'n', value: 1, rate: 1 }] }))
  await backend.flush(flush({ timestamp: 1_700_000_010, counters: [{ name: 'n', value: 2, rate: 1 }] }))
  const requests = await receiver.wait(3)
  await backend.close()
  t.same(requests.map((r) => [r.status, metric(r.body, 'n').sum!.dataPoints[0]!.asDouble]), [[503, 1], [400, 1], [200, 2]])
  t.equal(backend.stats().flushesDropped, 1)
  t.equal(backend.stats().delivered, 1)
})

t.test('end to end: the real server exports timers as exponential histograms', async (t) => {
  const dir = shortTempDir(t)
  const receiver = await startOtlpReceiver(t)
  const server = await ServerProcess.start(dir, {
    listeners: [{ type: 'tcp', port: 0 }],
    flushInterval: 500,
    backends: [{ type: 'otlp', url: receiver.url, instance: 'e2e' }],
  })
  t.teardown(() => server.kill())
  await sendStream(server.endpoints.tcp[0]!, ['e2e.lat:2|ms|@0.5\ne2e.lat:3000|ms|@0.5\ne2e.hits:4|c\n'])
  let found: DecodedMetric | undefined
  while (found === undefined) {
    await receiver.wait(receiver.requests.length + 1)
    found = metrics(receiver.requests.at(-1)!.body).find((m) => m.name === 'e2e.lat')
  }
  const p = found.exponentialHistogram!.dataPoints[0]!
  t.equal(Number(p.count), 4, 'each value sampled at 0.5 counts twice')
  t.ok(Math.abs(p.sum! - 2 * 3.002) < 1e-9)
  t.same(p.positive!.bucketCounts.map(Number).filter((c) => c > 0), [2, 2])
  t.equal(await server.stop(), 0)
})
