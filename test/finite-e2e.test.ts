import t from 'tap'
import { startFakeGraphite } from './helpers/fake-graphite'
import { sendUdp } from './helpers/net'
import { ServerProcess } from './helpers/server-process'

/* Issue 6.6: the real server never sends Infinity or NaN, whatever the clients send. */

t.test('g:1e308|g then g:+1e308|g: the gauge keeps 1e308, a bad line is counted, nothing is Infinity', async (t) => {
  const { graphite, port } = await startFakeGraphite(t)
  const server = await ServerProcess.start(t.testdir(), {
    listeners: [{ type: 'udp', address: '127.0.0.1', port: 0 }],
    backends: [{ type: 'graphite', host: '127.0.0.1', port }],
    flushInterval: 60_000,
  })
  t.teardown(() => server.kill())
  const udp = server.endpoints.udp[0]!
  await sendUdp(udp, ['g:1e308|g', 'g:+1e308|g', 'c:1e308|c', 'c:1e308|c', 't:1e200|ms'])
  t.equal(await server.stop(), 0)
  t.equal(graphite.flushes.length, 1)
  const text = graphite.flushes[0]!
  t.notMatch(text, /Infinity|NaN/, 'no line carries Infinity or NaN')
  t.match(text, /^stats\.gauges\.g 1e\+308 /m)
  t.match(text, /^stats_counts\.c 1e\+308 /m)
  t.match(text, /^stats_counts\.statsd\.bad_lines_seen 3 /m)
  t.equal(server.logged('bad line dropped').filter((e) => e['reason'] === 'result not finite').length, 3)
})
