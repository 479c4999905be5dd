import t, { type Test } from 'tap'
import { once } from 'node:events'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import net from 'node:net'
import { tmpdir } from 'node:os'
import path from 'node:path'
import tls from 'node:tls'
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import type { FlushData, FlushPart } from '../src/aggregate/flush-data'
import { TimerColumns } from '../src/aggregate/timer-columns'
import { createGraphiteBackend } from '../src/backends/graphite/graphite'
import { pickleLines } from '../src/backends/graphite/pickle'
import { sendAndClose } from '../src/backends/graphite/send'
import { tcpAcks } from '../src/backends/graphite/tcp-acks'
import { chunkPool } from '../src/backends/byte-chunks'
import { GraphiteFormatter } from '../src/backends/graphite-format'
import { configSchema, type GraphiteBackendConfig } from '../src/config/schema'
import { silentLogger } from '../src/log'
import { ControllableGraphite, deadPort } from './helpers/backend-fakes'
import { makeAuthority } from './helpers/certs'
import { withTimeout } from './helpers/net'

const NAMING = { prefixStats: 'statsd', flushCounts: true, sanitizeNames: false }

function graphiteConfig(port: number, extra: object = {}): GraphiteBackendConfig {
  return configSchema.parse({ backends: [{ type: 'graphite', host: '127.0.0.1', port, ...extra }] }).backends[0] as GraphiteBackendConfig
}

function flushData(keys: number, timestamp = 1_700_000_000): FlushData {
  const data: FlushData = { timestamp, flushIntervalMs: 10_000, counters: [], timers: [], gauges: [], sets: [], processingTime: 3, selfMetrics: [] }
  for (let i = 0; i < keys; i++) {
    data.counters.push({ name: `app.requests.host${i}`, value: i, rate: i / 10 })
    data.timers.push({ name: `app.latency.host${i}`, stats: [['count', 3], ['mean', 1.5 + i], ['upper', 9], ['upper_90', 8]] })
    data.gauges.push({ name: `app.queue.depth${i};dc=eu`, value: i * 1.25 })
  }
  return data
}

/** The flush's metrics in order, `size` at a time. */
function* inParts(data: FlushData, size: number): Generator<FlushPart> {
  const none = TimerColumns.empty()
  for (let i = 0; i < data.counters.length; i += size) yield { counters: data.counters.slice(i, i + size), timers: none, gauges: [], sets: [] }
  for (let i = 0; i < data.timers.length; i += size) yield { counters: [], timers: TimerColumns.from(data.timers.slice(i, i + size)), gauges: [], sets: [] }
  yield { counters: [], timers: none, gauges: data.gauges, sets: data.sets }
}

t.test('a Graphite whose kernel acknowledges a small flush but never reads it looks healthy: delivered once, not sent again', async (t) => {
  const { graphite, port } = await ControllableGraphite.start(t)
  graphite.holding = true
  const backend = createGraphiteBackend(graphiteConfig(port, { timeoutMs: 300, retryInitialMs: 50 }), NAMING, 0, silentLogger())
  await backend.flush(flushData(2))
  await graphite.until(() => backend.stats().delivered === 1, 5_000, 'delivery')
  t.equal(graphite.held.size, 1, 'one connection, held unread')
  await new Promise((resolve) => setTimeout(resolve, 600))
  t.match(backend.stats(), { delivered: 1, failedAttempts: 0, retries: 0 }, 'past the deadline, never sent again')
  await withTimeout(backend.close(), 5_000, 'close')
})

t.test('issue 6.5: undelivered flushes are held as flat bytes, so memory stays near the bound', async (t) => {
  setFlagsFromString('--expose-gc')
  const gc = runInNewContext('gc') as () => void
  const maxQueueBytes = 8 * 1024 * 1024
  const backend = createGraphiteBackend(graphiteConfig(await deadPort(), { maxQueueBytes }), NAMING, 0, silentLogger())
  const data = flushData(5_000) // about 1 MB of text per flush
  gc()
  const before = process.memoryUsage()
  for (let i = 0; i < 30; i++) await backend.flush({ ...data, timestamp: data.timestamp + i })
  // What the queue holds, not what a delivery attempt in flight or a loaded
  // machine's late collection holds for a moment: the least of a few samples.
  let retained = Infinity
  for (let i = 0; i < 5; i++) {
    await new Promise((resolve) => setTimeout(resolve, 20))
    gc()
    const after = process.memoryUsage()
    retained = Math.min(retained, after.heapUsed - before.heapUsed + (after.arrayBuffers - before.arrayBuffers))
  }
  const stats = backend.stats()
  t.ok(stats.flushesDropped > 0, 'the bound was reached')
  t.ok(stats.bytesQueued <= maxQueueBytes, `${stats.bytesQueued} bytes queued`)
  t.ok(retained < maxQueueBytes * 1.5, `retained ${(retained / 1048576).toFixed(1)} MiB for a ${maxQueueBytes / 1048576} MiB bound`)
  await backend.close()
})

t.test('the formatter part by part gives exactly the text of the whole flush, in Buffers of whole lines', async (t) => {
  const formatter = new GraphiteFormatter({ ...graphiteConfig(2003), ...NAMING })
  const data = flushData(30_000)
  const whole = formatter.format(data, Date.now()).replace(/calculationtime \d+/, 'calculationtime X')
  const lines = formatter.begin(data)
  for (const part of inParts(data, 7)) lines.write(part)
  const { chunks, bytes } = lines.end(data, 0)
  t.ok(chunks.length > 2, `${chunks.length} Buffers`)
  t.equal(bytes, Buffer.byteLength(whole))
  // Not t.equal: a diff of megabytes would take minutes.
  t.ok(Buffer.concat(chunks).toString().replace(/calculationtime \d+/, 'calculationtime X') === whole, 'the same text')
  t.ok(chunks.every((c) => c[c.length - 1] === 0x0a), 'every Buffer ends on a line')
})

t.test('pickle: Etsy toPickle framing, a 4-byte length and protocol-0 tuples', async (t) => {
  const out = pickleLines('stats.a 1.5 1700000000\nstats_counts.b;dc=eu 3 1700000000\n')
  const body = "(l(S'stats.a'\n(L1700000000L\nS'1.5'\ntta(S'stats_counts.b;dc=eu'\n(L1700000000L\nS'3'\ntta."
  t.equal(out.readUInt32BE(0), body.length)
  t.equal(out.subarray(4).toString('latin1'), body)
  const big = pickleLines(`${'y'.repeat(200)} 2 2\n`.repeat(8000))
  let frames = 0
  for (let at = 0; at < big.length; frames++) {
    const len = big.readUInt32BE(at)
    t.ok(len <= 1024 * 1024 - 4, 'frames stay under carbon 1 MiB limit')
    at += 4 + len
  }
  t.ok(frames > 1, `${frames} frames`)
})

t.test('a flush counts as delivered when Graphite read it and closed cleanly', async (t) => {
  const { graphite, port } = await ControllableGraphite.start(t)
  const backend = createGraphiteBackend(graphiteConfig(port, { retryInitialMs: 50 }), NAMING, 0, silentLogger())
  await backend.flush(flushData(2))
  await graphite.until(() => backend.stats().delivered === 1, 5_000, 'delivery')
  t.equal(graphite.received.length, 1)
  t.match(graphite.received[0], /^stats\.app\.requests\.host0 0 1700000000\n/)
  t.match(graphite.received[0], /statsd\.graphiteStats\.flush_length 0 \d+\n$/, 'health lines follow, as in Etsy')
  await withTimeout(backend.close(), 5_000, 'close')
})

t.test('a large flush is sent while it is still being formatted; a connection broken half-way gets the whole flush again', async (t) => {
  const connections: { bytes: Buffer[]; ended: boolean }[] = []
  let changed: () => void = () => {}
  const server = net.createServer((socket) => {
    const conn = { bytes: [] as Buffer[], ended: false }
    connections.push(conn)
    socket.on('error', () => {})
    socket.on('data', (chunk: Buffer) => {
      conn.bytes.push(chunk)
      changed()
      // The first connection breaks once a part of the flush has arrived.
      if (connections.length === 1 && Buffer.concat(conn.bytes).length > 100_000) socket.destroy()
    })
    socket.on('end', () => {
      conn.ended = true
      socket.end()
      changed()
    })
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  t.teardown(() => server.close())
  const until = async (test: () => boolean, what: string): Promise<void> => {
    const deadline = Date.now() + 10_000
    while (!test()) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
      await new Promise<void>((resolve) => {
        changed = resolve
        setTimeout(resolve, 100)
      })
    }
  }
  const port = (server.address() as net.AddressInfo).port
  const backend = createGraphiteBackend(graphiteConfig(port, { retryInitialMs: 50 }), NAMING, 0, silentLogger())
  const data = flushData(20_000)
  const writer = backend.beginFlush(data)
  const parts = [...inParts(data, 500)]
  for (const part of parts.slice(0, parts.length - 1)) writer.write(part)
  await until(() => connections.length > 0 && connections[0]!.bytes.length > 0, 'the first bytes before the flush is complete')
  t.pass('Graphite has bytes of the flush before it is complete')
  writer.write(parts.at(-1)!)
  await writer.end(data)
  await until(() => backend.stats().delivered === 1, 'delivery')
  t.equal(connections.length, 2, 'the broken connection, then the retry')
  t.match(backend.stats(), { delivered: 1, failedAttempts: 1, retries: 1, flushesDropped: 0 })
  const formatter = new GraphiteFormatter({ ...graphiteConfig(port), ...NAMING })
  const expected = formatter.format(data, Date.now()).replace(/calculationtime \d+/, 'calculationtime X')
  const sent = Buffer.concat(connections[1]!.bytes).toString()
  const health = sent.indexOf('stats.statsd.graphiteStats.last_exception')
  t.ok(health > 0, 'the health lines come last')
  t.ok(sent.slice(0, health).replace(/calculationtime \d+/, 'calculationtime X') === expected, 'the retry sent the whole flush, exactly as formatted')
  await withTimeout(backend.close(), 5_000, 'close')
})

t.test('flushes held undelivered while Graphite does not read, then sent: each arrives once, intact, although their lines are written into Buffers the pool reuses', async (t) => {
  const { graphite, port } = await ControllableGraphite.start(t)
  graphite.holding = true
  // A deadline well above a healthy 3 MB delivery on a busy machine: only the held attempts fail.
  const backend = createGraphiteBackend(graphiteConfig(port, { retryInitialMs: 50, timeoutMs: 1000 }), NAMING, 0, silentLogger())
  const formatter = new GraphiteFormatter({ ...graphiteConfig(port), ...NAMING })
  const flushes = [flushData(8000, 1_700_000_000), flushData(8000, 1_700_000_010), flushData(8000, 1_700_000_020)]
  const expected = flushes.map((d) => formatter.format(d, Date.now()).replace(/calculationtime \d+/, 'calculationtime X'))
  // Graphite takes the first connection but never reads: every flush stays undelivered while the next ones are written.
  for (const data of flushes) await backend.flush(data)
  await graphite.until(() => graphite.held.size >= 1, 5_000, 'a held connection')
  t.equal(backend.stats().delivered, 0)
  graphite.release()
  await graphite.until(() => backend.stats().delivered === 3, 10_000, 'delivery')
  // Each flush's first attempt has a connection of its own: the retried first one may arrive last.
  const byLine = (text: string): string =>
    text
      .split('\n')
      .filter((l) => !l.includes('graphiteStats.last_') && !l.includes('graphiteStats.flush_'))
      .map((l) => l.replace(/calculationtime \d+/g, 'calculationtime X'))
      .sort()
      .join('\n')
  t.ok(byLine(graphite.received.join('')) === byLine(expected.join('')), 'every flush arrived exactly as formatted, once')
  t.ok(chunkPool.size > 0, `${chunkPool.size} Buffers back in the pool once written`)
  // The next flush is written into those Buffers, and arrives intact too.
  const next = flushData(8000, 1_700_000_030)
  await backend.flush(next)
  await graphite.until(() => backend.stats().delivered === 4, 10_000, 'delivery')
  const last = graphite.received.at(-1)!.split('\n').filter((l) => !l.includes('graphiteStats.last_') && !l.includes('graphiteStats.flush_'))
  t.ok(last.join('\n').replace(/calculationtime \d+/, 'calculationtime X') === formatter.format(next, Date.now()).replace(/calculationtime \d+/, 'calculationtime X'), 'intact')
  await withTimeout(backend.close(), 5_000, 'close')
})

t.test('sendAndClose: delivered on the ACK of our FIN with the addon, on handing it to our kernel without; never waiting for the receiver to close', async (t) => {
  // A receiver that reads everything and never closes its end.
  const sockets: net.Socket[] = []
  const server = net.createServer({ allowHalfOpen: true }, (socket) => {
    sockets.push(socket)
    socket.resume()
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  t.teardown(() => {
    for (const s of sockets) s.destroy()
    server.close()
  })
  const target = { host: '127.0.0.1', port: (server.address() as net.AddressInfo).port }
  async function* payload(): AsyncGenerator<readonly Buffer[]> {
    yield [Buffer.from('a.b 1 1700000000\n')]
  }
  if (process.env.STATSD_TS_NATIVE !== 'off') t.ok(tcpAcks !== null, 'the addon reads TCP_INFO')
  for (const acks of [tcpAcks, null]) {
    const signal = new AbortController().signal
    await withTimeout(sendAndClose(target, payload, signal, acks), 2_000, `delivery ${acks === null ? 'without' : 'with'} the addon`)
    t.pass(`delivered ${acks === null ? 'without' : 'with'} the addon while the receiver keeps its end open`)
  }
})

/** A receiver that takes one connection (plain or TLS) and resolves with all it sent once it ends. */
async function oneConnection(t: Test, server: net.Server): Promise<{ port: number; received: Promise<Buffer> }> {
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  t.teardown(() => server.close())
  const received = new Promise<Buffer>((resolve) => {
    server.once(server instanceof tls.Server ? 'secureConnection' : 'connection', (socket: net.Socket) => {
      const chunks: Buffer[] = []
      socket.on('data', (c: Buffer) => chunks.push(c))
      socket.on('end', () => {
        socket.end()
        resolve(Buffer.concat(chunks))
      })
    })
  })
  return { port: (server.address() as net.AddressInfo).port, received }
}

const withoutTimes = (text: string): string => text.replace(/calculationtime \d+/, 'calculationtime X')

t.test('pickle: a flush of many Buffers arrives as frames of whole lines, each line once', async (t) => {
  const { port, received } = await oneConnection(t, net.createServer())
  const backend = createGraphiteBackend(graphiteConfig(port, { protocol: 'pickle' }), NAMING, 0, silentLogger())
  const data = flushData(20_000)
  await backend.flush(data)
  const bytes = await withTimeout(received, 10_000, 'the flush')
  let frames = 0
  const tuples: string[] = []
  for (let at = 0; at < bytes.length; frames++) {
    const body = bytes.subarray(at + 4, at + 4 + bytes.readUInt32BE(at)).toString('latin1')
    for (const m of body.matchAll(/\(S'([^']*)'\n\(L(\d+)L\nS'([^']*)'\ntta/g)) tuples.push(`${m[1]} ${m[3]} ${m[2]}`)
    at += 4 + bytes.readUInt32BE(at)
  }
  const formatter = new GraphiteFormatter({ ...graphiteConfig(port), ...NAMING })
  const expected = withoutTimes(formatter.format(data, Date.now())).trimEnd().split('\n')
  t.ok(frames > 2, `${frames} frames`)
  const sent = tuples.filter((l) => !l.includes('graphiteStats.last_') && !l.includes('graphiteStats.flush_')).map(withoutTimes)
  t.ok(sent.length === expected.length && sent.every((l, i) => l === expected[i]), `the ${expected.length} lines, in order`)
  await withTimeout(backend.close(), 5_000, 'close')
})

t.test('TLS: a flush of many Buffers arrives whole, each line once', async (t) => {
  const ca = makeAuthority()
  const leaf = ca.issue('127.0.0.1', { server: true })
  const dir = mkdtempSync(path.join(tmpdir(), 'graphite-tls-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  writeFileSync(path.join(dir, 'ca.pem'), ca.cert)
  const { port, received } = await oneConnection(t, tls.createServer({ cert: leaf.cert, key: leaf.key }))
  const backend = createGraphiteBackend(graphiteConfig(port, { tls: { caFile: path.join(dir, 'ca.pem') } }), NAMING, 0, silentLogger())
  const data = flushData(20_000)
  await backend.flush(data)
  const text = (await withTimeout(received, 10_000, 'the flush')).toString()
  const formatter = new GraphiteFormatter({ ...graphiteConfig(port), ...NAMING })
  const expected = withoutTimes(formatter.format(data, Date.now()))
  const health = text.indexOf('stats.statsd.graphiteStats.last_exception')
  t.ok(expected.length > 2 * 256 * 1024, `${(expected.length / 1048576).toFixed(1)} MiB`)
  t.ok(withoutTimes(text.slice(0, health)) === expected, 'exactly the lines of the flush, then the health lines')
  await withTimeout(backend.close(), 5_000, 'close')
})
