import t from 'tap'
import { readFileSync } from 'node:fs'
import { ControllableGraphite, deadPort, startSlowReader } from './helpers/backend-fakes'
import { sendUdp, shortTempDir } from './helpers/net'
import { ServerProcess } from './helpers/server-process'

/*
 * Issue 9's isolation guarantee, end to end: a Graphite that never reads, a
 * dead InfluxDB and a slow repeater target, all at once, while a second
 * Graphite gets every flush on time and exactly, and memory stays bounded.
 */

const INTERVAL_MS = 500
const FLUSHES = 12
// About 420 KB of Graphite text per flush: more than a never-reading receiver's socket buffers take, so
// its attempts stay unacknowledged and fail (a flush its kernel takes whole looks delivered, as TCP says).
const KEYS = 10_000
const PER_DATAGRAM = 100

function rssBytes(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))
  return m === null ? 0 : Number(m[1]) * 1024
}
// A zombie (exited, not yet reaped) has no VmRSS line: 0, which is no reading.

t.test('three broken backends cost the healthy one nothing', async (t) => {
  const { graphite: stuck, port: stuckPort } = await ControllableGraphite.start(t)
  stuck.holding = true
  const { graphite: healthy, port: healthyPort } = await ControllableGraphite.start(t)
  const arrivals: number[] = []
  const received = healthy.received
  received.push = (...items: string[]) => {
    arrivals.push(Date.now())
    return Array.prototype.push.apply(received, items)
  }
  const slow = await startSlowReader(t, 2_000)
  const influxPort = await deadPort()

  const server = await ServerProcess.start(shortTempDir(t), {
    // Room for a flush's datagrams sent at once (the default buffer holds about 90 of these).
    listeners: [{ type: 'udp', port: 0, recvBufferSize: 4 * 1024 * 1024 }],
    flushInterval: INTERVAL_MS,
    backends: [
      { type: 'graphite', host: '127.0.0.1', port: stuckPort, timeoutMs: 400, maxQueueBytes: 2 * 1024 * 1024 },
      { type: 'influxdb', url: `http://127.0.0.1:${influxPort}`, database: 'statsd', maxQueueBytes: 2 * 1024 * 1024 },
      { type: 'repeater', protocol: 'tcp', targets: [{ host: '127.0.0.1', port: slow.port }], timeoutMs: 400, maxQueueBytes: 1024 * 1024 },
      { type: 'graphite', host: '127.0.0.1', port: healthyPort },
    ],
  })
  t.teardown(() => server.kill())
  const pid = server.logs.find((e) => typeof e.pid === 'number')!.pid as number
  const target = server.endpoints.udp[0]!

  const rss: number[] = []
  const sampler = setInterval(() => {
    const bytes = rssBytes(pid)
    if (bytes > 0) rss.push(bytes)
  }, 100)
  let sent = 0
  const started = Date.now()
  for (let i = 0; i < FLUSHES; i++) {
    const datagrams: string[] = []
    for (let k = 0; k < KEYS; k += PER_DATAGRAM) {
      let d = 'iso.count:1|c\n'
      for (let j = k; j < k + PER_DATAGRAM; j++) d += `iso.gauge.k${j}:${i}|g\n`
      datagrams.push(d)
      sent++
    }
    await sendUdp(target, datagrams)
    await new Promise((resolve) => setTimeout(resolve, INTERVAL_MS - ((Date.now() - started) % INTERVAL_MS) + 20))
  }
  t.equal(await server.stop(), 0)
  clearInterval(sampler)

  const total = healthy
    .lines()
    .filter((l) => l.startsWith('stats_counts.iso.count '))
    .reduce((sum, l) => sum + Number(l.split(' ')[1]), 0)
  t.equal(total, sent, `the healthy Graphite got every count exactly once (${total} of ${sent})`)
  const gaps = arrivals.slice(1).map((at, i) => at - arrivals[i]!)
  t.ok(arrivals.length >= FLUSHES, `${arrivals.length} flushes arrived`)
  t.ok(Math.max(...gaps.slice(0, -1)) < INTERVAL_MS * 1.8, `on time: the gaps between flushes were ${gaps.join(', ')} ms`)
  t.ok(stuck.held.size > 1, `the stuck Graphite was tried ${stuck.held.size} times`)
  t.ok(slow.bytes() > 0, 'the slow repeater target got some traffic')
  const peak = Math.max(...rss)
  t.ok(peak < 250 * 1024 * 1024, `peak RSS ${(peak / 1048576).toFixed(0)} MiB`)
  const settled = rss.slice(Math.floor(rss.length / 3))
  t.ok(
    Math.max(...settled) - Math.min(...settled) < 60 * 1024 * 1024,
    `RSS did not keep growing: ${(Math.min(...settled) / 1048576).toFixed(0)}..${(Math.max(...settled) / 1048576).toFixed(0)} MiB`,
  )
  const failures = server.logs.filter((e) => e.msg === 'delivery failed')
  t.ok(failures.some((e) => String(e.backend).startsWith('graphite')), 'the stuck Graphite is logged')
  t.ok(failures.some((e) => String(e.backend).startsWith('influxdb')), 'the dead InfluxDB is logged')
})
