import t from 'tap'
import { sendUdp, shortTempDir } from '../helpers/net'
import { ServerProcess } from '../helpers/server-process'
import { eventually, freePort, startPrometheus } from './real-servers'

/* The real Prometheus scrapes our backend; samples read back through its query API. */

t.test('prometheus scrapes counters, gauges, sets and timer summaries with tags as labels', async (t) => {
  const dir = shortTempDir(t)
  const port = await freePort()
  const server = await ServerProcess.start(dir, {
    listeners: [{ type: 'udp', port: 0 }],
    flushInterval: 2000,
    percentThreshold: [90, 99],
    backends: [{ type: 'prometheus', address: '127.0.0.1', port }],
  })
  t.teardown(() => server.kill())
  const prometheus = await startPrometheus(t, dir, `127.0.0.1:${port}`)
  const sample = (q: string, want: (v: number, labels: Record<string, string>) => boolean): Promise<true> =>
    eventually(q, 30_000, async () => {
      const result = await prometheus.query(q)
      return result.some((r) => want(Number(r.value[1]), r.metric)) ? true : undefined
    })
  // Scraping already, so what each flush exposes is seen.
  await sample('up', (v) => v === 1)
  await sendUdp(server.endpoints.udp[0]!, [
    'int.hits:5|c|#dc:eu\nint.hits:2|c|#dc:eu',
    'int.lat:100|ms\nint.lat:200|ms\nint.lat:300|ms',
    'int.temp:21.5|g',
  ])
  await sample('int_hits', (v, l) => v === 7 && l.dc === 'eu' && l.job === 'statsd')
  await sample('int_temp', (v) => v === 21.5)
  // Sets are gauges of the latest flush: 2 for one interval, then 0 once
  // idle. On a loaded machine every scrape can miss that one interval (seen
  // in CI), so the members go again, within and across intervals, until a
  // scrape has seen 2: a set that did not count each member once never shows it.
  await eventually('max_over_time(int_users[5m])', 30_000, async () => {
    await sendUdp(server.endpoints.udp[0]!, ['int.users:a|s\nint.users:b|s\nint.users:a|s'])
    const result = await prometheus.query('max_over_time(int_users[5m])')
    return result.some((r) => Number(r.value[1]) === 2) ? true : undefined
  })
  await sample('int_lat{quantile="0.9"}', (v) => v === 0.3)
  await sample('int_lat_count', (v) => v === 3)
  await sample('int_lat_sum', (v) => Math.abs(v - 0.6) < 1e-9)
  t.pass('every sample read back from Prometheus')
  t.equal(await server.stop(), 0)
})
