import t, { type Test } from 'tap'
import { ADMIN_TIMEOUT_MS, buildAdminApp } from '../src/admin/http/app'
import { FakeControl } from './helpers/fake-control'
import { parsePrometheus } from './helpers/prometheus'

/* The admin HTTP API through fastify's inject(): no ports, no sleeps. */

function setup(t: Test) {
  const control = new FakeControl()
  const app = buildAdminApp({ control })
  t.teardown(() => app.close())
  return { control, app }
}

t.test('/healthz follows health up and down, set over POST', async (t) => {
  const { app, control } = setup(t)
  let res = await app.inject('/healthz')
  t.equal(res.statusCode, 200)
  t.same(res.json(), { status: 'up' })
  res = await app.inject({ method: 'POST', url: '/health/down' })
  t.equal(res.statusCode, 503)
  t.same(res.json(), { status: 'down', reason: 'set down by an operator' })
  res = await app.inject('/healthz')
  t.equal(res.statusCode, 503)
  t.equal(res.json().status, 'down')
  res = await app.inject({ method: 'POST', url: '/health/up' })
  t.equal(res.statusCode, 200)
  t.equal((await app.inject('/healthz')).statusCode, 200)

  control.health.drain()
  res = await app.inject({ method: 'POST', url: '/health/up' })
  t.equal(res.statusCode, 503, 'shutting down cannot be undone')
  t.same(res.json(), { status: 'down', reason: 'shutting down' })
  t.equal((await app.inject('/health/down')).statusCode, 404, 'GET does not change health')
})

t.test('/readyz reports the reasons it is not ready', async (t) => {
  const { app, control } = setup(t)
  t.equal((await app.inject('/readyz')).statusCode, 200)
  control.snap.ready = { ready: false, reasons: ['the aggregator is behind'] }
  const res = await app.inject('/readyz')
  t.equal(res.statusCode, 503)
  t.same(res.json(), { ready: false, reasons: ['the aggregator is behind'] })
})

t.test('/info names the build, the config, listeners and backends', async (t) => {
  const { app } = setup(t)
  const info = (await app.inject('/info')).json()
  t.match(info, {
    name: 'statsd-ts',
    version: '1.2.3',
    commit: 'abc123',
    pid: 42,
    startedAt: '2026-01-01T00:00:00.000Z',
    uptimeSeconds: 3725,
    config: { source: '/etc/statsd/<config>.js', format: 'etsy' },
    flushIntervalMs: 10_000,
    listeners: [{ description: 'udp 127.0.0.1:8125', bound: true }],
    backends: [{ name: 'graphite', target: '127.0.0.1:2003', lastSuccess: '2026-01-01T01:02:00.000Z', lastFailure: null }],
  })
  t.notOk('etsyStatus' in info.backends[0], 'the console-only figures stay out')
})

t.test('/metrics is valid Prometheus text with the snapshot figures', async (t) => {
  const { app } = setup(t)
  const res = await app.inject('/metrics')
  t.equal(res.statusCode, 200)
  t.match(res.headers['content-type'], /^text\/plain; version=0\.0\.4/)
  const m = parsePrometheus(res.body)
  t.equal(m.get('statsd_packets_received_total'), 1000)
  t.equal(m.get('statsd_lines_received_total'), 2500)
  t.equal(m.get('statsd_bad_lines_total{reason="bad value"}'), 3)
  t.equal(m.get('statsd_queue_dropped_packets_total'), 6)
  t.equal(m.get('statsd_self_metrics_total{name="some.new_figure"}'), 2, 'a self-metric without a name of its own')
  t.equal(m.get('statsd_queue_packets'), 3)
  t.equal(m.get('statsd_keys{type="counters"}'), 4)
  t.equal(m.get('statsd_backend_flushes_sent_total{backend="graphite",target="127.0.0.1:2003"}'), 370)
  t.equal(m.get('statsd_flush_duration_seconds_count'), 2)
  t.equal(m.get('statsd_flush_lag_seconds'), 0.003)
  t.ok(m.has('process_resident_memory_bytes') && m.has('nodejs_eventloop_lag_seconds'), 'process metrics')
  const again = parsePrometheus((await app.inject('/metrics')).body)
  t.equal(again.get('statsd_flush_duration_seconds_count'), 2, 'each flush is observed once')
  t.equal(again.get('statsd_packets_received_total'), 1000, 'totals are not added up twice')
})

t.test('the status page shows the figures, escaped, with nothing loaded from elsewhere', async (t) => {
  const { app } = setup(t)
  const res = await app.inject('/')
  t.equal(res.statusCode, 200)
  t.match(res.headers['content-type'], /^text\/html/)
  t.match(res.headers['content-security-policy'], /default-src 'none'/)
  const html = res.body
  for (const text of ['1h 2m 5s', 'api.hits', '900', 'bad value', '127.0.0.1:2003', 'queue.dropped_packets', '2026-01-01T01:02:10.000Z']) {
    t.ok(html.includes(text), `shows ${text}`)
  }
  t.ok(html.includes('x:&lt;script&gt;|c'), 'bad lines are escaped')
  t.notOk(html.includes('<script>|c'))
  t.ok(html.includes('&lt;config&gt;'), 'the config path is escaped')
  t.notMatch(html, /(src|href)="(https?:)?\/\//, 'no external assets')
})

t.test('a client cannot send a large body, and timeouts are set', async (t) => {
  const { app } = setup(t)
  const res = await app.inject({ method: 'POST', url: '/health/down', payload: 'x'.repeat(100_000), headers: { 'content-type': 'text/plain' } })
  t.equal(res.statusCode, 413)
  t.equal((await app.inject('/healthz')).statusCode, 200, 'and health did not change')
  t.equal(app.initialConfig.connectionTimeout, ADMIN_TIMEOUT_MS)
  t.equal(app.server.requestTimeout, ADMIN_TIMEOUT_MS)
  t.equal((await app.inject('/nope')).statusCode, 404)
})
