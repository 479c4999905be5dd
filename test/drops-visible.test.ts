import { once } from 'node:events'
import { readFileSync } from 'node:fs'
import net from 'node:net'
import path from 'node:path'
import pino from 'pino'
import t, { type Test } from 'tap'
import type { ListenerConfig } from '../src/config/schema'
import { withDefaultMaxConnections } from '../src/listeners/stream/connection-limit'
import { startFakeGraphite } from './helpers/fake-graphite'
import { graphiteValues, selfMetrics } from './helpers/graphite-lines'
import { udpSocketOn } from './helpers/load'
import { sendUdp, shortTempDir, withTimeout } from './helpers/net'
import { ServerProcess } from './helpers/server-process'

/*
 * Every loss is visible (issue 6, items 4 and 8): refused clients at the
 * descriptor limit, and every kind of drop sent to Graphite as the server's
 * own metrics, each one documented in the README.
 */

const README = readFileSync(path.resolve(__dirname, '../../README.md'), 'utf8')

async function startServer(t: Test, graphitePort: number, config: object, wrapper?: string[]): Promise<ServerProcess> {
  const server = await ServerProcess.start(
    t.testdir(),
    { backends: [{ type: 'graphite', host: '127.0.0.1', port: graphitePort }], flushInterval: 600_000, ...config },
    'config.json',
    wrapper,
  )
  t.teardown(() => server.kill())
  return server
}

/** Connects and writes `line`; resolves once connected, with the socket and when the server closed it. */
async function client(target: { host: string; port: number }, line: string): Promise<{ socket: net.Socket; closed: Promise<unknown> }> {
  const socket = net.connect({ host: target.host, port: target.port })
  socket.on('error', () => {}) // a refused client is reset: that is the point
  const closed = new Promise((resolve) => socket.on('close', resolve))
  await once(socket, 'connect')
  socket.write(line)
  socket.resume()
  return { socket, closed }
}

t.test('maxConnections defaults to what RLIMIT_NOFILE leaves after a reserve, shared by the stream listeners', async (t) => {
  const warnings: Record<string, unknown>[] = []
  const log = pino({ level: 'warn' }, { write: (line: string) => warnings.push(JSON.parse(line) as Record<string, unknown>) })
  const tcp: ListenerConfig = { type: 'tcp', address: '127.0.0.1', port: 0, maxLineBytes: 100, idleTimeoutMs: 100 }
  const unix: ListenerConfig = { type: 'unix', path: '/tmp/x.sock', maxLineBytes: 100, idleTimeoutMs: 100 }
  const udp: ListenerConfig = { type: 'udp', address: '127.0.0.1', port: 0 }
  t.match(withDefaultMaxConnections([tcp], 256, log), [{ maxConnections: 128 }])
  t.match(withDefaultMaxConnections([udp, tcp, unix], 1024, log), [{ type: 'udp' }, { maxConnections: 448 }, { maxConnections: 448 }])
  t.notOk('maxConnections' in withDefaultMaxConnections([udp], 1024, log)[0]!, 'UDP has no connections')
  t.match(withDefaultMaxConnections([{ ...tcp, maxConnections: 7 }], 1024, log), [{ maxConnections: 7 }], 'a configured value is kept')
  t.match(withDefaultMaxConnections([tcp], 10, log), [{ maxConnections: 5 }], 'a tiny limit still leaves half for the rest')
  t.same(withDefaultMaxConnections([tcp], undefined, log), [tcp], 'unknown or unlimited: no limit')
  t.equal(warnings.length, 0, 'no warning for derived values')
  withDefaultMaxConnections([{ ...tcp, maxConnections: 800 }, unix], 1024, log)
  t.match(warnings, [{ maxConnections: 1248, fileDescriptorLimit: 1024, msg: /more than the file descriptor limit leaves/ }])
})

t.test('at the descriptor limit, refused clients are counted and logged, and Graphite still gets its flush (item 4)', async (t) => {
  const { graphite, port } = await startFakeGraphite(t)
  const server = await startServer(t, port, { listeners: [{ type: 'tcp', address: '127.0.0.1', port: 0 }] }, [
    'prlimit',
    '--nofile=256',
    '--',
  ])
  const clients = await Promise.all(Array.from({ length: 400 }, () => client(server.endpoints.tcp[0]!, 'fd.c:1|c\n')))
  // A client is connected once the kernel has queued it; the server refuses it (closes it at once) only when
  // it accepts it. Stop only after every refusal, or a loaded machine leaves some in the backlog at SIGTERM.
  let closedEarly = 0
  await withTimeout(
    new Promise<void>((resolve) => {
      for (const c of clients) void c.closed.then(() => ++closedEarly === 400 - 128 && resolve())
    }),
    10_000,
    'every refused client closed by the server',
  )
  t.equal(await server.stop(), 0)
  await Promise.all(clients.map((c) => c.closed))
  t.equal(graphite.flushes.length, 1, 'the final flush reached Graphite: descriptors were kept for it')
  const out = graphiteValues(graphite.flushes[0]!)
  // 256 descriptors, 128 kept in reserve: 128 clients served, the rest refused.
  t.equal(out.get('stats_counts.fd.c'), '128', 'every served client counted')
  const self = selfMetrics(out)
  t.equal(self.get('stream.refused_connections')?.value, 272, 'every refused client counted')
  t.equal(self.get('stream.accept_errors')?.value, 0)
  const refusals = server.logged('client refused: maxConnections reached (see README, "maxConnections")')
  t.ok(refusals.length >= 1 && refusals.length < 10, `refusals logged, rate-limited (${refusals.length} lines)`)
})

t.test('every kind of drop reaches Graphite as a self-metric, and each name is in the README (item 8)', async (t) => {
  const { graphite, port } = await startFakeGraphite(t)
  const dir = shortTempDir(t)
  const server = await startServer(t, port, {
    listeners: [
      // The smallest receive buffer the kernel allows: it overflows at once.
      { type: 'udp', address: '127.0.0.1', port: 0, recvBufferSize: 1 },
      { type: 'udp', address: '127.0.0.1', port: 0, recvBufferSize: 1024 * 1024 },
      { type: 'tcp', address: '127.0.0.1', port: 0, maxConnections: 1 },
      { type: 'unix', path: path.join(dir, 'statsd.sock'), idleTimeoutMs: 100 },
    ],
    // A packet or two fills the queue: the burst below overflows it.
    queue: { maxBytes: 1024 * 1024, maxPackets: 4 },
  })
  const [tiny, roomy] = server.endpoints.udp as [{ host: string; port: number }, { host: string; port: number }]
  const tcp = server.endpoints.tcp[0]!

  // Held still, the server cannot read: the tiny buffer drops, the roomy one
  // keeps all, and is then read faster than the 4-packet queue empties.
  server.signal('SIGSTOP')
  const sent = 300
  try {
    await sendUdp(tiny, Array.from({ length: sent }, () => 'k.tiny:1|c'))
    await sendUdp(roomy, Array.from({ length: sent }, () => 'k.roomy:1|c'))
  } finally {
    server.signal('SIGCONT')
  }
  const kernelDrops = udpSocketOn(tiny).drops
  t.ok(kernelDrops > 0, `${kernelDrops} datagrams dropped by the kernel`)

  const first = await client(tcp, 'x'.repeat(70_000) + '\nok.line:1|c\n')
  const refused = await client(tcp, 'refused:1|c\n')
  await refused.closed
  const idle = net.connect(server.endpoints.unix[0]!)
  await once(idle, 'close')

  t.equal(await server.stop(), 0)
  await first.closed
  const out = graphiteValues(graphite.flushes[0]!)
  const self = selfMetrics(out)
  const value = (name: string): number | undefined => self.get(name)?.value
  t.equal(value(`udp.127_0_0_1_${tiny.port}.kernel_drops`), kernelDrops, 'kernel drops, per socket')
  t.equal(value(`udp.127_0_0_1_${roomy.port}.kernel_drops`), 0)
  t.ok(value('queue.dropped_packets')! > 0, 'queue drops')
  t.equal(
    Number(out.get('stats_counts.k.tiny') ?? 0) + Number(out.get('stats_counts.k.roomy') ?? 0) + value('queue.dropped_packets')! + kernelDrops,
    2 * sent,
    'every datagram either counted or reported dropped',
  )
  t.ok(value('queue.dropped_bytes')! > 0, 'queue drops in bytes')
  t.equal(value('stream.lines_too_long'), 1)
  t.equal(out.get('stats_counts.ok.line'), '1', 'the line after the long one')
  t.equal(value('stream.refused_connections'), 1)
  t.equal(value('stream.idle_timeouts'), 1)
  t.equal(value('stream.shutdown_disconnects'), 0)
  t.equal(value('stream.accept_errors'), 0)

  for (const name of self.keys()) {
    const documented = name.replace(/^udp\.[^.]+\./, 'udp.<listener>.')
    t.ok(README.includes('`' + documented + '`'), `${documented} is documented in the README`)
  }
})
