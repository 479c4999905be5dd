import { once } from 'node:events'
import net from 'node:net'
import path from 'node:path'
import t, { type Test } from 'tap'
import { type FakeGraphite, startFakeGraphite } from './helpers/fake-graphite'
import { graphiteValues, selfMetrics } from './helpers/graphite-lines'
import { blast, lines, udpSocketOn } from './helpers/load'
import { sendUdp, shortTempDir } from './helpers/net'
import { ServerProcess } from './helpers/server-process'

/*
 * Nothing the server has been given is lost (issue 6, items 2, 3 and 9): the
 * real server process, SIGTERM while the kernel still holds client data, and
 * TCP bursts that outrun the aggregator. Each test reads the one final flush
 * (the flush interval is longer than the test) and wants exact totals.
 */

const LONG_FLUSH_MS = 600_000

async function startServer(t: Test, graphitePort: number, config: object, wrapper?: string[]): Promise<ServerProcess> {
  const server = await ServerProcess.start(
    t.testdir(),
    { backends: [{ type: 'graphite', host: '127.0.0.1', port: graphitePort }], flushInterval: LONG_FLUSH_MS, ...config },
    'config.json',
    wrapper,
  )
  t.teardown(() => server.kill())
  return server
}

/** The only flush there is: the one sent at shutdown. */
function finalFlush(t: Test, graphite: FakeGraphite): Map<string, string> {
  t.equal(graphite.flushes.length, 1, 'one flush: the final one')
  return graphiteValues(graphite.flushes.at(-1) ?? '')
}

t.test('SIGTERM: every datagram the kernel had accepted is counted (item 2)', async (t) => {
  const { graphite, port } = await startFakeGraphite(t)
  const server = await startServer(t, port, {
    listeners: [{ type: 'udp', address: '127.0.0.1', port: 0, recvBufferSize: 16 * 1024 * 1024 }],
  })
  const udp = server.endpoints.udp[0]!
  // Held still, the server reads nothing: all of it waits in the socket's
  // receive queue when SIGTERM arrives, as a burst the server lags behind would.
  const perDatagram = 100
  const datagrams = Array.from({ length: 2_000 }, () => 'drain.u:1|c\n'.repeat(perDatagram))
  server.signal('SIGSTOP')
  try {
    await sendUdp(udp, datagrams)
  } finally {
    const kernel = udpSocketOn(udp)
    t.ok(kernel.rxQueue > 1024 * 1024, `${kernel.rxQueue} bytes wait in the kernel at SIGTERM`)
    server.signal('SIGTERM')
    server.signal('SIGCONT')
    t.equal(await server.exited(), 0, 'clean exit', { logs: server.logs })
    const out = finalFlush(t, graphite)
    const accepted = (datagrams.length - kernel.drops) * perDatagram
    t.equal(out.get('stats_counts.drain.u'), String(accepted), `all ${accepted} metrics the kernel accepted`)
    t.equal(selfMetrics(out).get(`udp.127_0_0_1_${udp.port}.kernel_drops`)?.value, kernel.drops, 'kernel drops reported')
    t.equal(server.logged('shutdown time ran out: datagrams still queued in the kernel are lost').length, 0)
  }
})

t.test('SIGTERM: TCP and Unix clients lose nothing and get a FIN, not a reset (item 3)', async (t) => {
  const { graphite, port } = await startFakeGraphite(t)
  const dir = shortTempDir(t)
  const server = await startServer(t, port, {
    listeners: [
      { type: 'tcp', address: '127.0.0.1', port: 0 },
      { type: 'unix', path: path.join(dir, 'statsd.sock') },
    ],
  })
  const targets = [server.endpoints.tcp[0]!, server.endpoints.unix[0]!]
  // Small enough for the kernel to take it all while the server is held still.
  const perClient = 5_000
  const clients = await Promise.all(
    targets.flatMap((target) => [connectHalfOpen(target), connectHalfOpen(target)]),
  )
  // Written while the server is held still: the bytes sit in its receive
  // buffers (or on their way) when SIGTERM arrives. Half the clients then go
  // idle with their connection open, the other half have already closed.
  server.signal('SIGSTOP')
  const written = clients.map(async ({ socket }, i) => {
    await new Promise<void>((resolve, reject) => socket.write(lines('drain.s:1|c\n', perClient), (err) => (err ? reject(err) : resolve())))
    if (i % 2 === 1) socket.end()
  })
  // SIGTERM once every write has been handed to the kernel.
  await Promise.all(written)
  server.signal('SIGTERM')
  server.signal('SIGCONT')
  const started = Date.now()
  t.equal(await server.exited(), 0)
  t.ok(Date.now() - started < 5_000, 'idle clients did not hold the shutdown for the whole shutdown time')
  for (const [i, client] of clients.entries()) {
    t.same(await client.outcome, 'FIN', `client ${i} saw the server close cleanly`)
  }
  const out = finalFlush(t, graphite)
  t.equal(out.get('stats_counts.drain.s'), String(perClient * clients.length), 'every line every client wrote')
  t.equal(selfMetrics(out).get('stream.shutdown_disconnects')?.value, 0)
})

/** A client that keeps its side open when the server closes, and reports how the server closed: FIN or an error. */
async function connectHalfOpen(target: { host: string; port: number } | string): Promise<{ socket: net.Socket; outcome: Promise<string> }> {
  const options = typeof target === 'string' ? { path: target } : { host: target.host, port: target.port }
  const socket = net.connect({ ...options, allowHalfOpen: true })
  await once(socket, 'connect')
  const outcome = new Promise<string>((resolve) => {
    socket.once('end', () => resolve('FIN'))
    socket.once('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message))
  })
  socket.resume()
  void outcome.then(() => socket.destroy())
  return { socket, outcome }
}

t.test('10 TCP connections outrunning the aggregator lose nothing (item 9)', async (t) => {
  const { graphite, port } = await startFakeGraphite(t)
  // A small queue, so the burst outruns the aggregator at once.
  const server = await startServer(t, port, {
    listeners: [{ type: 'tcp', address: '127.0.0.1', port: 0 }],
    queue: { maxBytes: 1024 * 1024, maxPackets: 1_000 },
  })
  const connections = 10
  const block = lines('burst.tcp:1|c\n', 10_000)
  const blocksPerConnection = 30
  await Promise.all(Array.from({ length: connections }, () => blast(server.endpoints.tcp[0]!, block, blocksPerConnection)))
  t.equal(await server.stop(), 0)
  const out = finalFlush(t, graphite)
  const sent = connections * blocksPerConnection * 10_000
  t.equal(out.get('stats_counts.burst.tcp'), String(sent), `all ${sent} metrics`)
  const self = selfMetrics(out)
  t.equal(self.get('queue.dropped_packets')?.value, 0, 'nothing dropped')
  t.ok(self.get('queue.stream_pauses')!.value > 0, 'the streams were paused to let the aggregator catch up')
})
