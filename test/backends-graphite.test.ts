import t from 'tap'
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import type { FlushData, FlushPart } from '../src/aggregate/flush-data'
import { createGraphiteBackend } from '../src/backends/graphite/graphite'
import { pickleLines } from '../src/backends/graphite/pickle'
import { GraphiteFormatter } from '../src/backends/graphite-format'
import { configSchema, type GraphiteBackendConfig } from '../src/config/schema'
import { silentLogger } from '../src/log'
import { ControllableGraphite, deadPort } from './helpers/backend-fakes'
import { sendUdp, withTimeout } from './helpers/net'
import { ServerProcess } from './helpers/server-process'
import { shortTempDir } from './helpers/net'

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
function* inParts(data: FlushPart, size: number): Generator<FlushPart> {
  for (let i = 0; i < data.counters.length; i += size) yield { counters: data.counters.slice(i, i + size), timers: [], gauges: [], sets: [] }
  for (let i = 0; i < data.timers.length; i += size) yield { counters: [], timers: data.timers.slice(i, i + size), gauges: [], sets: [] }
  yield { counters: [], timers: [], gauges: data.gauges, sets: data.sets }
}

t.test('issue 6.5: a Graphite that accepts but never reads gets the flush again once it reads', async (t) => {
  const { graphite, port } = await ControllableGraphite.start(t)
  graphite.holding = true
  const dir = shortTempDir(t)
  const server = await ServerProcess.start(dir, {
    listeners: [{ type: 'udp', port: 0 }],
    flushInterval: 400,
    backends: [{ type: 'graphite', host: '127.0.0.1', port, timeoutMs: 300 }],
  })
  t.teardown(() => server.kill())
  await sendUdp(server.endpoints.udp[0]!, ['held.counter:7|c'])
  // Two held connections: the first flush went to a server that took the bytes but never read them.
  await graphite.until(() => graphite.held.size >= 2, 5_000, 'two held connections')
  graphite.release()
  await graphite.until(
    () => graphite.lines().some((l) => l.startsWith('stats_counts.held.counter 7 ')),
    10_000,
    'the held flush, sent again',
  )
  t.pass('the flush Graphite never read was delivered later')
  t.equal(await server.stop(), 0)
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
  const { chunks, bytes } = lines.end(data, Date.now())
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
