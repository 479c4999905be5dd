import { writeFileSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import t, { type Test } from 'tap'
import { bucketIndex, DEFAULT_BOUNDS, nativeIndex } from '../src/backends/remote-write/buckets'
import { RemoteWriteBackend } from '../src/backends/remote-write/remote-write'
import { configSchema, type RemoteWriteBackendConfig } from '../src/config/schema'
import { silentLogger } from '../src/log'
import { sendStream, shortTempDir } from './helpers/net'
import { ServerProcess } from './helpers/server-process'
import { type DecodedSeries, decodeWrite, flush, startPushReceiver, timer } from './helpers/push-receivers'

/** A remote write receiver: each request's series, decoded. */
const startRemoteWriteReceiver = (t: Test, script: number[] = []) => startPushReceiver(t, '/api/v1/write', decodeWrite, script)

const backendCfg = (cfg: object): RemoteWriteBackendConfig =>
  configSchema.parse({ backends: [{ type: 'remote_write', retryInitialMs: 10, ...cfg }] }).backends[0] as RemoteWriteBackendConfig

const named = (series: DecodedSeries[], name: string): DecodedSeries[] => series.filter((s) => s.labels.__name__ === name)
const only = (series: DecodedSeries[], name: string): DecodedSeries => {
  const found = named(series, name)
  if (found.length !== 1) throw new Error(`${found.length} series named ${name}`)
  return found[0]!
}
/** A double's bits (through a typed array: a plain array of doubles would make every NaN the same NaN). */
const bits = (v: number): bigint => {
  const f = new Float64Array(1)
  f[0] = v
  return new BigUint64Array(f.buffer)[0]!
}

t.test('default buckets: at most 40, log-spaced by √2 (4 significant digits)', async (t) => {
  t.ok(DEFAULT_BOUNDS.length <= 40)
  t.equal(DEFAULT_BOUNDS[0], 0.001)
  for (let i = 1; i < DEFAULT_BOUNDS.length; i++) t.ok(DEFAULT_BOUNDS[i]! / DEFAULT_BOUNDS[i - 1]! <= 1.415, `bucket ${i}`)
  t.equal(bucketIndex([1, 2, 3], 2), 1, 'a value on a bound is in that bound (le)')
  t.equal(bucketIndex([1, 2, 3], 3.5), 3, 'above the last bound: +Inf')
  t.equal(bucketIndex([1, 2, 3], 0), 0)
})

t.test('native bucket index: bucket i holds (base^(i-1), base^i]', async (t) => {
  t.equal(nativeIndex(1, 0), 0)
  t.equal(nativeIndex(2, 0), 1)
  t.equal(nativeIndex(3, 0), 2)
  t.equal(nativeIndex(4, 0), 2)
  t.equal(nativeIndex(0.5, 0), -1)
  for (const schema of [0, 3, 8]) {
    for (const v of [0.001, 0.0173, 1, 1.5, 7.77, 1234]) {
      const i = nativeIndex(v, schema)
      const base = 2 ** (2 ** -schema)
      t.ok(base ** (i - 1) < v * (1 + 1e-12) && v <= base ** i * (1 + 1e-12), `${v} schema ${schema} in bucket ${i}`)
    }
  }
})

t.test('labels: instance (default hostname), job, static labels, tags fixed and clashing ones exported_*', async (t) => {
  const receiver = await startRemoteWriteReceiver(t)
  const backend = new RemoteWriteBackend(backendCfg({ url: receiver.url, labels: { region: 'eu' } }), 'statsd', silentLogger())
  t.teardown(() => backend.close())
  await backend.flush(flush({ counters: [{ name: 'api.hits;instance=x;job=y;le=z;a:b=1;__x=2;empty=;region=us', value: 3, rate: 0.3 }] }))
  const [write] = await receiver.wait(1)
  const s = only(write!.body, 'api_hits')
  t.same(s.labels, {
    __name__: 'api_hits',
    instance: os.hostname(),
    job: 'statsd',
    region: 'eu',
    exported_instance: 'x',
    exported_job: 'y',
    exported_le: 'z',
    exported_region: 'us',
    exported___x: '2',
    a_b: '1',
  })
  const names = Object.keys(s.labels)
  t.same(names, [...names].sort(), 'labels sorted by name, as remote write requires')
  t.equal(s.samples[0]!.timestamp, 1_700_000_000_000, 'the flush instant, in ms')
  t.equal(write!.headers['content-encoding'], 'snappy')
  t.equal(write!.headers['content-type'], 'application/x-protobuf')
  t.equal(write!.headers['x-prometheus-remote-write-version'], '0.1.0')
  t.ok(only(write!.body, 'statsd_processing_time'), 'own figures are sent as gauges')
})

t.test('counters are cumulative per instance; gauges and sets are the latest value', async (t) => {
  const receiver = await startRemoteWriteReceiver(t)
  const backend = new RemoteWriteBackend(backendCfg({ url: receiver.url, instance: 'host-a' }), 'statsd', silentLogger())
  t.teardown(() => backend.close())
  await backend.flush(flush({ counters: [{ name: 'hits', value: 5, rate: 0.5 }], gauges: [{ name: 'temp', value: 20 }], sets: [{ name: 'users', count: 3 }] }))
  await backend.flush(flush({ timestamp: 1_700_000_010, counters: [{ name: 'hits', value: 2, rate: 0.2 }], gauges: [{ name: 'temp', value: 21 }], sets: [{ name: 'users', count: 1 }] }))
  const writes = await receiver.wait(2)
  t.same(writes.map((w) => only(w.body, 'hits').samples[0]!.value), [5, 7])
  t.same(writes.map((w) => only(w.body, 'temp').samples[0]!.value), [20, 21])
  t.same(writes.map((w) => only(w.body, 'users').samples[0]!.value), [3, 1])
  t.equal(only(writes[0]!.body, 'hits').labels.instance, 'host-a')
})

t.test('timers: cumulative classic histograms in seconds named _seconds, buckets per pattern', async (t) => {
  const receiver = await startRemoteWriteReceiver(t)
  const cfg = backendCfg({ url: receiver.url, buckets: [{ metric: 'db.', buckets: [0.01, 0.1] }] })
  const backend = new RemoteWriteBackend(cfg, 'statsd', silentLogger())
  t.teardown(() => backend.close())
  await backend.flush(flush({ timers: [timer('api.lat', [1, 3, 1000]), timer('db.query', [5, 10, 50, 500])] }))
  // Sampled at 0.5: four values stand for eight events.
  await backend.flush(flush({ timestamp: 1_700_000_010, timers: [timer('api.lat', []), timer('db.query', [5, 5, 5, 200], 8)] }))
  const [first, second] = await receiver.wait(2)
  const api = named(first!.body, 'api_lat_seconds_bucket')
  t.equal(api.length, DEFAULT_BOUNDS.length + 1)
  const le = (seconds: number): string => String(DEFAULT_BOUNDS[bucketIndex(DEFAULT_BOUNDS, seconds)])
  const bucket = (series: DecodedSeries[], le: string) => series.find((s) => s.labels.le === le)!.samples[0]!.value
  t.same(
    [le(0.001), le(0.003), le(0.5), le(1)].map((l) => bucket(api, l)),
    [1, 2, 2, 3],
    'cumulative: each value counts in its bucket and every bucket above',
  )
  t.equal(bucket(api, '+Inf'), 3)
  t.equal(only(first!.body, 'api_lat_seconds_count').samples[0]!.value, 3)
  t.equal(only(first!.body, 'api_lat_seconds_sum').samples[0]!.value, 1.004)
  const db = named(first!.body, 'db_query_seconds_bucket')
  t.same(db.map((s) => [s.labels.le, s.samples[0]!.value]), [['0.01', 2], ['0.1', 3], ['+Inf', 4]], 'a value on a bound counts in it')
  const db2 = named(second!.body, 'db_query_seconds_bucket')
  t.same(db2.map((s) => [s.labels.le, s.samples[0]!.value]), [['0.01', 8], ['0.1', 9], ['+Inf', 12]], 'each sampled value counts 1/rate')
  t.equal(only(second!.body, 'db_query_seconds_count').samples[0]!.value, 12)
  t.equal(only(second!.body, 'api_lat_seconds_count').samples[0]!.value, 3, 'an idle timer keeps its totals')
})

t.test('a series the aggregator let go gets a staleness marker, then is not sent again', async (t) => {
  const receiver = await startRemoteWriteReceiver(t)
  const backend = new RemoteWriteBackend(backendCfg({ url: receiver.url }), 'statsd', silentLogger())
  t.teardown(() => backend.close())
  await backend.flush(flush({ counters: [{ name: 'gone', value: 1, rate: 0.1 }], timers: [timer('lat', [1])] }))
  await backend.flush(flush({ timestamp: 1_700_000_010 }))
  await backend.flush(flush({ timestamp: 1_700_000_020 }))
  const writes = await receiver.wait(3)
  const stale = only(writes[1]!.body, 'gone').samples[0]!.value
  t.equal(bits(stale), 0x7ff0000000000002n, 'Prometheus staleness NaN, bit for bit')
  t.ok(named(writes[1]!.body, 'lat_seconds_bucket').every((s) => bits(s.samples[0]!.value) === 0x7ff0000000000002n))
  t.same(named(writes[2]!.body, 'gone'), [])
  t.same(named(writes[2]!.body, 'lat_seconds_count'), [])
})

t.test('an invalid series is left out and counted; the rest of the flush goes', async (t) => {
  const receiver = await startRemoteWriteReceiver(t)
  const backend = new RemoteWriteBackend(backendCfg({ url: receiver.url }), 'statsd', silentLogger())
  t.teardown(() => backend.close())
  // "a.b" and "a_b" are both the label a_b: a receiver refuses a series with a label twice.
  await backend.flush(flush({ counters: [{ name: 'bad;a.b=1;a_b=2', value: 1, rate: 1 }, { name: 'good', value: 1, rate: 1 }] }))
  const [write] = await receiver.wait(1)
  t.same(named(write!.body, 'bad'), [])
  t.equal(only(write!.body, 'good').samples[0]!.value, 1)
})

t.test('a kind clash: the name already sent as another type is skipped', async (t) => {
  const receiver = await startRemoteWriteReceiver(t)
  const backend = new RemoteWriteBackend(backendCfg({ url: receiver.url }), 'statsd', silentLogger())
  t.teardown(() => backend.close())
  await backend.flush(flush({ counters: [{ name: 'x', value: 1, rate: 1 }], gauges: [{ name: 'x', value: 5 }] }))
  const [write] = await receiver.wait(1)
  t.same(only(write!.body, 'x').samples[0]!.value, 1)
})

t.test('extra headers, bearer token and basic auth from files (read at each delivery)', async (t) => {
  const dir = shortTempDir(t)
  const token = path.join(dir, 'token')
  writeFileSync(token, 's3cret\n')
  const receiver = await startRemoteWriteReceiver(t)
  const bearer = new RemoteWriteBackend(backendCfg({ url: receiver.url, headers: { 'X-Scope-OrgID': 'team-a' }, bearerTokenFile: token }), 'statsd', silentLogger())
  t.teardown(() => bearer.close())
  await bearer.start()
  await bearer.flush(flush())
  await receiver.wait(1)
  writeFileSync(token, 'rotated\n')
  await bearer.flush(flush({ timestamp: 1_700_000_010 }))
  const writes = await receiver.wait(2)
  t.equal(writes[0]!.headers['x-scope-orgid'], 'team-a')
  t.equal(writes[0]!.headers.authorization, 'Bearer s3cret')
  t.equal(writes[1]!.headers.authorization, 'Bearer rotated')
  const password = path.join(dir, 'password')
  writeFileSync(password, 'pa:ss\n')
  const basic = new RemoteWriteBackend(backendCfg({ url: receiver.url, basicAuth: { username: 'me', passwordFile: password } }), 'statsd', silentLogger())
  t.teardown(() => basic.close())
  await basic.flush(flush())
  const [, , third] = await receiver.wait(3)
  t.equal(third!.headers.authorization, `Basic ${Buffer.from('me:pa:ss').toString('base64')}`)
  const missing = new RemoteWriteBackend(backendCfg({ url: receiver.url, bearerTokenFile: path.join(dir, 'nope') }), 'statsd', silentLogger())
  await t.rejects(missing.start(), /remote_write backend .*nope/, 'a missing secret file is a start-up error')
  await missing.close()
})

t.test('config: clear errors for what a receiver or HTTP cannot take', async (t) => {
  const bad = (cfg: object): boolean => !configSchema.safeParse({ backends: [{ type: 'remote_write', url: 'http://127.0.0.1:1/api/v1/write', ...cfg }] }).success
  t.ok(bad({ labels: { instance: 'x' } }), 'instance has its own setting')
  t.ok(bad({ labels: { 'a:b': 'x' } }), 'an invalid label name')
  t.ok(bad({ headers: { 'Content-Encoding': 'gzip' } }), 'a header the backend sets')
  t.ok(bad({ bearerTokenFile: '/a', basicAuth: { username: 'u', passwordFile: '/b' } }), 'two kinds of auth')
  t.ok(bad({ buckets: [{ metric: 'x', buckets: [2, 1] }] }), 'bounds that do not increase')
  t.notOk(bad({ headers: { 'THANOS-TENANT': 't' }, nativeHistograms: { schema: 2 } }))
})

for (const status of [500, 503, 429]) {
  t.test(`a ${status} answer is retried with backoff, in order, and nothing is sent twice`, async (t) => {
    const receiver = await startRemoteWriteReceiver(t, [status, status])
    const backend = new RemoteWriteBackend(backendCfg({ url: receiver.url }), 'statsd', silentLogger())
    t.teardown(() => backend.close())
    await backend.flush(flush({ counters: [{ name: 'n', value: 1, rate: 1 }] }))
    await backend.flush(flush({ timestamp: 1_700_000_010, counters: [{ name: 'n', value: 1, rate: 1 }] }))
    const writes = await receiver.wait(4)
    t.same(writes.map((w) => [w.status, only(w.body, 'n').samples[0]!.value]), [[status, 1], [status, 1], [204, 1], [204, 2]])
    await backend.close() // waits for the attempt in flight, so its answer is counted
    const stats = backend.stats()
    t.equal(stats.delivered, 2)
    t.equal(stats.failedAttempts, 2)
    t.equal(stats.retries, 2)
    t.equal(stats.flushesDropped, 0)
  })
}

t.test('a 400 answer is dropped, counted and logged with the receiver message; later flushes go on', async (t) => {
  const receiver = await startRemoteWriteReceiver(t, [400])
  const logged: unknown[] = []
  const log = silentLogger()
  log.error = ((obj: unknown) => logged.push(obj)) as typeof log.error
  const backend = new RemoteWriteBackend(backendCfg({ url: receiver.url }), 'statsd', log)
  t.teardown(() => backend.close())
  await backend.flush(flush({ counters: [{ name: 'n', value: 1, rate: 1 }] }))
  await backend.flush(flush({ timestamp: 1_700_000_010, counters: [{ name: 'n', value: 1, rate: 1 }] }))
  const writes = await receiver.wait(2)
  t.same(writes.map((w) => w.status), [400, 204], 'not retried')
  t.equal(only(writes[1]!.body, 'n').samples[0]!.value, 2)
  await backend.close()
  t.equal(backend.stats().flushesDropped, 1)
  t.equal(backend.stats().delivered, 1)
  t.equal(backend.rejectedRequests, 1)
  t.match(JSON.stringify(logged), /HTTP 400: out of order sample 1/, "the receiver's message is logged")
})

t.test('a large flush goes as several requests; a retry resumes at the first one not taken', async (t) => {
  const receiver = await startRemoteWriteReceiver(t, [204, 500])
  const backend = new RemoteWriteBackend(backendCfg({ url: receiver.url, maxSeriesPerRequest: 10 }), 'statsd', silentLogger())
  t.teardown(() => backend.close())
  const counters = Array.from({ length: 25 }, (_, i) => ({ name: `c${i}`, value: i, rate: 0 }))
  await backend.flush(flush({ counters }))
  const writes = await receiver.wait(4)
  t.same(writes.map((w) => [w.status, w.body.length]), [[204, 10], [500, 10], [204, 10], [204, 6]])
  t.same(writes[1]!.body.map((s) => s.labels.__name__), writes[2]!.body.map((s) => s.labels.__name__), 'the refused request again, not the first')
  await backend.close()
  t.equal(backend.stats().delivered, 1)
})

t.test('native histograms: one series per timer, spans and deltas as Prometheus reads them', async (t) => {
  const receiver = await startRemoteWriteReceiver(t)
  const backend = new RemoteWriteBackend(backendCfg({ url: receiver.url, nativeHistograms: { schema: 0 } }), 'statsd', silentLogger())
  t.teardown(() => backend.close())
  // 1 s, 2 s, 2 s, 8 s and 0: buckets 0, 1, 1, 3 (schema 0: powers of 2), and the zero bucket.
  await backend.flush(flush({ timers: [timer('lat', [1000, 2000, 2000, 8000, 0])] }))
  const [write] = await receiver.wait(1)
  const s = only(write!.body, 'lat_seconds')
  t.same(s.samples, [])
  const h = s.histograms[0] as Record<string, unknown>
  t.equal(h.count_int, 5)
  t.equal(h.sum, 13)
  t.equal(h.schema, 0)
  t.equal(h.zero_count_int, 1)
  t.same(h.positive_spans, [{ offset: 0, length: 2 }, { offset: 1, length: 1 }])
  t.same(h.positive_deltas, [1, 1, -1], 'counts 1, 2, 1 delta-encoded')
  t.equal(h.timestamp, 1_700_000_000_000)
})

t.test('end to end: the real server pushes timers as histograms, and marks counters it deletes as stale', async (t) => {
  const dir = shortTempDir(t)
  const receiver = await startRemoteWriteReceiver(t)
  const server = await ServerProcess.start(dir, {
    listeners: [{ type: 'tcp', port: 0 }],
    flushInterval: 500,
    deleteCounters: true,
    backends: [{ type: 'remote_write', url: receiver.url, instance: 'e2e' }],
  })
  t.teardown(() => server.kill())
  await sendStream(server.endpoints.tcp[0]!, ['e2e.lat:2|ms|@0.5\ne2e.lat:3000|ms|@0.5\ne2e.lat:30|ms|@0.5\ne2e.hits:4|c\n'])
  const writes = await eventually(() => receiver.requests.findIndex((w) => named(w.body, 'e2e_hits').length > 0))
  const first = receiver.requests[writes]!.body
  t.equal(only(first, 'e2e_hits').samples[0]!.value, 4)
  t.equal(only(first, 'e2e_lat_seconds_count').samples[0]!.value, 6, 'each value sampled at 0.5 counts twice')
  t.ok(Math.abs(only(first, 'e2e_lat_seconds_sum').samples[0]!.value - 2 * 3.032) < 1e-9, 'sum in seconds')
  const buckets = named(first, 'e2e_lat_seconds_bucket')
  const at = (seconds: number) => buckets.find((s) => s.labels.le === String(DEFAULT_BOUNDS[bucketIndex(DEFAULT_BOUNDS, seconds)]))!.samples[0]!.value
  t.same([at(0.002), at(0.03), at(3)], [2, 4, 6])
  // deleteCounters: the counter is gone from the next flush, so it is marked stale there.
  const stale = await eventually(() => receiver.requests.findIndex((w, i) => i > writes && named(w.body, 'e2e_hits').length > 0))
  t.equal(bits(only(receiver.requests[stale]!.body, 'e2e_hits').samples[0]!.value), 0x7ff0000000000002n)
  t.equal(await server.stop(), 0)
})

/** Polls `find` until it gives an index, once per request the receiver gets (bounded by the test's timeout). */
async function eventually(find: () => number): Promise<number> {
  for (;;) {
    const i = find()
    if (i >= 0) return i
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
}
