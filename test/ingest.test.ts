import dgram from 'node:dgram'
import fs from 'node:fs'
import net from 'node:net'
import path from 'node:path'
import { Writable } from 'node:stream'
import { setImmediate as nextTurn } from 'node:timers/promises'
import pino from 'pino'
import t, { type Test } from 'tap'
import type { TcpListenerConfig, UdpListenerConfig, UnixListenerConfig } from '../src/config/schema'
import { IngestCounters } from '../src/core/ingest-counters'
import { startListener, type Listener } from '../src/listeners/listener'
import { PacketQueue } from '../src/queue/queue'
import { LineAssembler } from '../src/listeners/stream/line-assembler'
import { startTcpListener } from '../src/listeners/stream/tcp'
import { startUnixListener } from '../src/listeners/stream/unix'
import { startUdpListener } from '../src/listeners/datagram/udp'
import { type Logger, silentLogger } from '../src/log'
import { ipv6Unavailable, sendUdp, shortTempDir, waitFor, withTimeout } from './helpers/net'
import { seededRandom } from './helpers/random'

const log = silentLogger()
const DEADLINE_MS = 5_000

// ---------------------------------------------------------------- helpers

/** `promise`, or a failure if it takes longer than the deadline. */
function within<T>(promise: Promise<T>, what: string): Promise<T> {
  return withTimeout(promise, DEADLINE_MS, what)
}

function drain(queue: PacketQueue): string[] {
  const out: string[] = []
  for (let buf = queue.shift(); buf !== undefined; buf = queue.shift()) out.push(buf.toString())
  return out
}

function setup(limits = { maxBytes: 1 << 20, maxPackets: 10_000 }): { queue: PacketQueue; counters: IngestCounters } {
  const counters = new IngestCounters()
  return { queue: new PacketQueue(limits, counters), counters }
}

function tcpConfig(over: Partial<TcpListenerConfig> = {}): TcpListenerConfig {
  return { type: 'tcp', address: '127.0.0.1', port: 0, maxLineBytes: 64 * 1024, idleTimeoutMs: 60_000, ...over }
}

function unixConfig(socketPath: string, over: Partial<UnixListenerConfig> = {}): UnixListenerConfig {
  return { type: 'unix', path: socketPath, maxLineBytes: 64 * 1024, idleTimeoutMs: 60_000, ...over }
}

function udpConfig(address = '127.0.0.1'): UdpListenerConfig {
  return { type: 'udp', address, port: 0 }
}

function tcpPort(listener: Listener): number {
  const bound = listener.boundAddress
  if (!('port' in bound)) throw new Error('not a port listener')
  return bound.port
}

/** A connected client, destroyed at the end of the test. */
async function connect(t: Test, opts: net.NetConnectOpts): Promise<net.Socket> {
  const socket = net.connect(opts)
  t.teardown(() => {
    socket.destroy()
  })
  await within(
    new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve)
      socket.once('error', reject)
    }),
    'connect',
  )
  return socket
}

function write(socket: net.Socket, data: string | Buffer): Promise<void> {
  return new Promise((resolve, reject) => socket.write(data, (err) => (err ? reject(err) : resolve())))
}

function closed(socket: net.Socket): Promise<void> {
  return within(new Promise<void>((resolve) => socket.once('close', () => resolve())), 'client close')
}

/** Listeners started by a test are closed at its end whatever happens. */
function track(t: Test, listener: Listener): Listener {
  t.teardown(() => listener.close())
  return listener
}

type LogRecord = { level: number; msg: string; start?: string }

/** A debug-level logger whose records land in `records`. */
function captureLogger(): { logger: Logger; records: LogRecord[] } {
  const records: LogRecord[] = []
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      records.push(JSON.parse(chunk.toString()) as LogRecord)
      done()
    },
  })
  return { logger: pino({ level: 'debug' }, sink), records }
}

// ---------------------------------------------------------------- queue

t.test('queue: FIFO order, length and bytes', async (t) => {
  const { queue } = setup()
  for (const s of ['a', 'bb', 'ccc']) t.equal(queue.push(Buffer.from(s)), true)
  t.equal(queue.length, 3)
  t.equal(queue.bytes, 6)
  t.equal(queue.shift()?.toString(), 'a')
  t.equal(queue.length, 2)
  t.equal(queue.bytes, 5)
  t.same(drain(queue), ['bb', 'ccc'])
  t.equal(queue.shift(), undefined)
  t.equal(queue.bytes, 0)
})

t.test('queue: stays FIFO across wrap-around and growth', async (t) => {
  const { queue } = setup({ maxBytes: 1 << 30, maxPackets: 100_000 })
  const expected: string[] = []
  const got: string[] = []
  const rand = seededRandom(7)
  let next = 0
  // Interleave bursts of pushes and shifts so the ring wraps, grows and shrinks.
  for (let round = 0; round < 200; round++) {
    const pushes = Math.floor(rand() * 3000)
    for (let i = 0; i < pushes; i++) {
      const s = String(next++)
      expected.push(s)
      queue.push(Buffer.from(s))
    }
    const shifts = Math.floor(rand() * 3000)
    for (let i = 0; i < shifts && queue.length > 0; i++) got.push(queue.shift()!.toString())
  }
  got.push(...drain(queue))
  t.equal(got.length, expected.length)
  t.ok(got.every((s, i) => s === expected[i]), 'every packet in push order')
  t.equal(queue.bytes, 0)
})

t.test('queue: drops and counts when a bound is reached', async (t) => {
  t.test('packet bound', async (t) => {
    const { queue, counters } = setup({ maxBytes: 1000, maxPackets: 2 })
    t.equal(queue.push(Buffer.from('one')), true)
    t.equal(queue.push(Buffer.from('two')), true)
    t.equal(queue.push(Buffer.from('three')), false)
    t.equal(counters.queueDroppedPackets, 1)
    t.equal(counters.queueDroppedBytes, 5)
    t.same(drain(queue), ['one', 'two'])
    t.equal(queue.push(Buffer.from('four')), true, 'room again once consumed')
  })
  t.test('byte bound', async (t) => {
    const { queue, counters } = setup({ maxBytes: 10, maxPackets: 100 })
    t.equal(queue.push(Buffer.alloc(6)), true)
    t.equal(queue.push(Buffer.alloc(5)), false, '11 bytes would exceed 10')
    t.equal(queue.push(Buffer.alloc(4)), true, 'exactly 10 bytes fits')
    t.equal(queue.push(Buffer.alloc(1)), false)
    t.equal(counters.queueDroppedPackets, 2)
    t.equal(counters.queueDroppedBytes, 6)
    t.equal(queue.length, 2)
    t.equal(queue.bytes, 10)
    t.match(counters.takeSnapshot(), { queueDroppedPackets: 2, queueDroppedBytes: 6, oversizedLines: 0 })
    t.equal(counters.queueDroppedPackets, 0, 'a snapshot starts the count again')
  })
  t.test('empty packets are ignored, not queued or dropped', async (t) => {
    const { queue, counters } = setup({ maxBytes: 10, maxPackets: 1 })
    t.equal(queue.push(Buffer.alloc(0)), true)
    t.equal(queue.length, 0)
    t.equal(counters.queueDroppedPackets, 0)
  })
})

t.test('queue: onReadable fires on the push that makes it non-empty', async (t) => {
  const { queue } = setup()
  let calls = 0
  queue.onReadable = () => {
    calls++
    t.equal(queue.length, 1, 'the packet is already queued when the hook runs')
  }
  queue.push(Buffer.from('a'))
  queue.push(Buffer.from('b'))
  t.equal(calls, 1)
  drain(queue)
  queue.push(Buffer.alloc(0))
  t.equal(calls, 1, 'an ignored empty packet does not wake the consumer')
  queue.push(Buffer.from('c'))
  t.equal(calls, 2)
})

t.test('queue: streams pause above the high-water mark, resume below the low-water mark, and are never dropped', async (t) => {
  const { queue, counters } = setup({ maxBytes: 10_000, maxPackets: 8 })
  const events: string[] = []
  const stream = { pause: () => events.push('pause'), resume: () => events.push('resume') }
  queue.addPausable(stream)
  for (let i = 0; i < 4; i++) queue.pushStream(Buffer.from('x'))
  t.same(events, [], 'at half of maxPackets: not yet')
  queue.pushStream(Buffer.from('x'))
  t.same(events, ['pause'], 'past half: paused')
  t.equal(queue.paused, true)
  for (let i = 0; i < 10; i++) queue.pushStream(Buffer.alloc(100))
  t.equal(queue.length, 15, 'stream data past the bounds is still queued')
  t.equal(counters.queueDroppedPackets, 0)
  t.equal(queue.push(Buffer.from('udp')), false, 'a datagram is dropped at the bound')
  const late = { pause: () => events.push('late pause'), resume: () => events.push('late resume') }
  queue.addPausable(late)
  t.same(events, ['pause', 'late pause'], 'a stream added while above the mark starts paused')
  while (queue.length > 3) queue.shift()
  t.same(events, ['pause', 'late pause'], 'above a quarter: still paused')
  queue.shift()
  t.same(events, ['pause', 'late pause', 'resume', 'late resume'], 'at a quarter: resumed')
  queue.removePausable(late)
  for (let i = 0; i < 5; i++) queue.pushStream(Buffer.from('x'))
  t.same(events.slice(4), ['pause'], 'a removed stream is left alone')
  t.equal(counters.streamPauses, 2, 'each pause is counted')
  queue.pushStream(Buffer.alloc(0))
  t.equal(queue.length, 7, 'an empty chunk is not queued')
})

t.test('queue: the byte bound has its own water marks', async (t) => {
  const { queue } = setup({ maxBytes: 100, maxPackets: 1_000 })
  let paused = false
  queue.addPausable({ pause: () => (paused = true), resume: () => (paused = false) })
  queue.pushStream(Buffer.alloc(50))
  t.equal(paused, false)
  queue.pushStream(Buffer.alloc(1))
  t.equal(paused, true, 'past half of maxBytes')
  queue.shift()
  t.equal(paused, false, 'a quarter or less left')
})

// ---------------------------------------------------------------- line assembly

/** Runs `chunks` through an assembler and returns what it emitted. */
function assemble(chunks: Buffer[], maxLineBytes: number): { packets: Buffer[]; oversized: Buffer[] } {
  const packets: Buffer[] = []
  const oversized: Buffer[] = []
  const a = new LineAssembler(maxLineBytes, (p) => packets.push(p), (preview) => oversized.push(preview))
  for (const c of chunks) a.write(c)
  a.finish()
  return { packets, oversized }
}

t.test('lines: every split point reassembles exactly', async (t) => {
  const input = Buffer.from('foo:1|c\nbar.baz:2.5|ms|@0.1\n\ngauge:-3|g\nlast:1|c')
  const expected = input.toString() + '\n'
  for (let i = 0; i <= input.length; i++) {
    for (let j = i; j <= input.length; j++) {
      const chunks = [input.subarray(0, i), input.subarray(i, j), input.subarray(j)]
      const { packets, oversized } = assemble(chunks, 1024)
      const joined = Buffer.concat(packets).toString()
      if (joined !== expected) {
        t.equal(joined, expected, `split at ${i},${j}`)
        return
      }
      t.equal(oversized.length, 0)
      for (const p of packets) if (p[p.length - 1] !== 0x0a) t.fail(`packet ${JSON.stringify(p.toString())} is not whole lines`)
    }
  }
  t.pass('all splits ok')
})

t.test('lines: one packet per chunk, zero-copy when nothing is carried', async (t) => {
  const chunk = Buffer.from('a:1|c\nb:2|c\nc:3|c\npartial')
  const { packets } = assemble([chunk], 1024)
  t.same(
    packets.map((p) => p.toString()),
    ['a:1|c\nb:2|c\nc:3|c\n', 'partial\n'],
  )
  t.equal(packets[0]!.buffer, chunk.buffer, 'the first packet is a view of the chunk')
  t.equal(packets[0]!.byteOffset, chunk.byteOffset)
})

t.test('lines: over-long lines are dropped whole and reported once each', async (t) => {
  const max = 10
  t.test('carried across chunks', async (t) => {
    const chunks = ['ok:1|c\nxxxxxx', 'xxxxxxx', 'xxxxxxx\ngood:2|c\n'].map((s) => Buffer.from(s))
    const { packets, oversized } = assemble(chunks, max)
    t.same(packets.map((p) => p.toString()), ['ok:1|c\n', 'good:2|c\n'])
    t.equal(oversized.length, 1)
    t.equal(oversized[0]!.toString(), 'xxxxxx', 'the preview shows the start of the line')
  })
  t.test('within one chunk', async (t) => {
    const { packets, oversized } = assemble([Buffer.from('a:1|c\nyyyyyyyyyyyyyyyy\nb:2|c\nzzzzzzzzzzzzzzzzzz\nc:3|c\n')], max)
    t.same(packets.map((p) => p.toString()), ['a:1|c\nb:2|c\nc:3|c\n'])
    t.same(oversized.map((p) => p.toString()), ['yyyyyyyyyyyyyyyy', 'zzzzzzzzzzzzzzzzzz'], 'previews stop at the line end')
  })
  t.test('a line of exactly maxLineBytes is kept', async (t) => {
    const line = 'k'.repeat(max)
    const { packets, oversized } = assemble([Buffer.from(line.slice(0, 4)), Buffer.from(line.slice(4) + '\n' + line)], max)
    t.same(packets.map((p) => p.toString()), [line + '\n', line + '\n'])
    t.equal(oversized.length, 0)
  })
  t.test('an over-long final line is not delivered at end', async (t) => {
    const { packets, oversized } = assemble([Buffer.from('a:1|c\n' + 'q'.repeat(50))], max)
    t.same(packets.map((p) => p.toString()), ['a:1|c\n'])
    t.equal(oversized.length, 1)
  })
  t.test('the preview is at most 100 bytes', async (t) => {
    const { oversized } = assemble([Buffer.from('w'.repeat(5000) + '\n'), Buffer.from('v'.repeat(5000))], max)
    t.equal(oversized.length, 2)
    t.ok(oversized.every((p) => p.length === 100))
  })
})

t.test('lines: random chunking matches a reference splitter', async (t) => {
  const rand = seededRandom(42)
  const max = 20
  for (let round = 0; round < 300; round++) {
    const lines: string[] = []
    const n = 1 + Math.floor(rand() * 30)
    for (let i = 0; i < n; i++) {
      const len = Math.floor(rand() * rand() * 60)
      lines.push(String.fromCharCode(97 + (i % 26)).repeat(len))
    }
    const text = lines.join('\n') + (rand() < 0.5 ? '\n' : '')
    const input = Buffer.from(text)
    const chunks: Buffer[] = []
    for (let pos = 0; pos < input.length; ) {
      const size = 1 + Math.floor(rand() * 50)
      chunks.push(input.subarray(pos, pos + size))
      pos += size
    }
    // An empty stream holds no line at all (''.split() would say one empty line).
    const wholeLines = text === '' ? [] : text.endsWith('\n') ? text.slice(0, -1).split('\n') : text.split('\n')
    const kept = wholeLines.filter((l) => l.length <= max)
    const expected = kept.length > 0 ? kept.join('\n') + '\n' : ''
    const longCount = wholeLines.length - kept.length
    const { packets, oversized } = assemble(chunks, max)
    const got = Buffer.concat(packets).toString()
    if (got !== expected || oversized.length !== longCount) {
      t.same({ got, oversized: oversized.length }, { got: expected, oversized: longCount }, `round ${round}`)
      return
    }
  }
  t.pass('300 random cases')
})

// ---------------------------------------------------------------- udp

t.test('udp: each IPv4 datagram is queued as is', async (t) => {
  const { queue } = setup()
  const listener = track(t, await startUdpListener(udpConfig(), queue, new IngestCounters(), log))
  const port = tcpPort(listener)
  t.equal(listener.description, `udp 127.0.0.1:${port}`)
  const messages = ['a:1|c', 'b:2|ms\nc:3|g', 'd:4|s']
  await sendUdp({ host: '127.0.0.1', port }, messages)
  await waitFor(() => queue.length === 3, '3 datagrams')
  t.same(drain(queue), messages)
})

t.test('udp: IPv6', async (t) => {
  const skip = await ipv6Unavailable()
  t.test('receive on ::1', { skip }, async (t) => {
    const { queue } = setup()
    const listener = track(t, await startUdpListener(udpConfig('::1'), queue, new IngestCounters(), log))
    const port = tcpPort(listener)
    t.equal(listener.description, `udp [::1]:${port}`)
    await sendUdp({ host: '::1', port }, ['v6:1|c'])
    await waitFor(() => queue.length === 1, 'a datagram')
    t.same(drain(queue), ['v6:1|c'])
  })
  t.test('tcp on ::1 is described with brackets', { skip }, async (t) => {
    const { queue, counters } = setup()
    const listener = track(t, await startTcpListener(tcpConfig({ address: '::1' }), queue, counters, log))
    t.equal(listener.description, `tcp [::1]:${tcpPort(listener)}`)
    const client = await connect(t, { host: '::1', port: tcpPort(listener) })
    client.end('v6:2|c\n')
    await waitFor(() => queue.length === 1, 'a packet')
    t.same(drain(queue), ['v6:2|c\n'])
  })
})

t.test('udp: close() first reads datagrams already received by the kernel', async (t) => {
  const { queue } = setup()
  const listener = await startUdpListener(udpConfig(), queue, new IngestCounters(), log)
  const messages = Array.from({ length: 200 }, (_, i) => `m${i}:1|c`)
  // Once send() has called back, loopback datagrams sit in the listener's
  // receive buffer; closing straight away would throw them away.
  await sendUdp({ host: '127.0.0.1', port: tcpPort(listener) }, messages)
  await listener.close()
  t.same(drain(queue), messages)
})

t.test('udp: recvBufferSize is applied, and a capped one is reported', async (t) => {
  const { queue } = setup()
  const { logger, records } = captureLogger()
  // Far above any default net.core.rmem_max: the OS grants less.
  const listener = track(t, await startUdpListener({ ...udpConfig(), recvBufferSize: 1 << 30 }, queue, new IngestCounters(), logger))
  await waitFor(() => records.length > 0, 'a log record')
  t.match(records, [{ level: 40, msg: /receive buffer smaller than requested/ }])
  await sendUdp({ host: '127.0.0.1', port: tcpPort(listener) }, ['still:1|c'])
  await waitFor(() => queue.length === 1, 'a datagram')
  t.same(drain(queue), ['still:1|c'])
})

t.test('udp: a port in use is a clear error', async (t) => {
  const holder = dgram.createSocket('udp4')
  t.teardown(() => new Promise<void>((resolve) => holder.close(() => resolve())))
  await new Promise<void>((resolve) => holder.bind(0, '127.0.0.1', resolve))
  const port = holder.address().port
  const { queue } = setup()
  await t.rejects(startUdpListener({ ...udpConfig(), port }, queue, new IngestCounters(), log), {
    message: new RegExp(`^cannot listen on udp 127\\.0\\.0\\.1:${port}: address already in use$`),
  })
})

// ---------------------------------------------------------------- tcp

t.test('tcp: lines split across many small writes reassemble exactly', async (t) => {
  const { queue } = setup()
  const listener = track(t, await startTcpListener(tcpConfig(), queue, new IngestCounters(), log))
  const client = await connect(t, { host: '127.0.0.1', port: tcpPort(listener) })
  client.setNoDelay(true)
  const text = 'first.metric:1|c\nsecond.metric:250|ms|@0.5\n' + 'third:' + '9'.repeat(300) + '|g\n'
  for (let i = 0; i < text.length; i += 3) {
    await write(client, text.slice(i, i + 3))
    // Let the listener read this piece on its own before the next one.
    await nextTurn()
  }
  await waitFor(() => queue.bytes === text.length, 'all bytes')
  const packets = drain(queue)
  t.equal(packets.join(''), text)
  t.ok(packets.every((p) => p.endsWith('\n')), 'every packet is whole lines')
  t.ok(packets.length > 1, 'the text really arrived in several chunks')
})

t.test('tcp: several lines in one write are one queue entry', async (t) => {
  const { queue } = setup()
  const listener = track(t, await startTcpListener(tcpConfig(), queue, new IngestCounters(), log))
  const client = await connect(t, { host: '127.0.0.1', port: tcpPort(listener) })
  await write(client, 'a:1|c\nb:2|c\nc:3|c\n')
  await waitFor(() => queue.length >= 1, 'a packet')
  await nextTurn()
  t.same(drain(queue), ['a:1|c\nb:2|c\nc:3|c\n'])
})

t.test('tcp: a final line without newline is delivered when the client ends', async (t) => {
  const { queue } = setup()
  const listener = track(t, await startTcpListener(tcpConfig(), queue, new IngestCounters(), log))
  const client = await connect(t, { host: '127.0.0.1', port: tcpPort(listener) })
  client.end('a:1|c\nlast:2|c')
  await closed(client)
  await waitFor(() => queue.length === 2, 'two packets')
  t.same(drain(queue), ['a:1|c\n', 'last:2|c\n'])
})

t.test('tcp: an over-long line is dropped and counted, the next line arrives', async (t) => {
  const { queue, counters } = setup()
  const { logger: capture, records } = captureLogger()
  const listener = track(t, await startTcpListener(tcpConfig({ maxLineBytes: 100 }), queue, counters, capture))
  const client = await connect(t, { host: '127.0.0.1', port: tcpPort(listener) })
  await write(client, 'x'.repeat(5000))
  await write(client, 'x'.repeat(5000) + '\ngood:1|c\n' + 'y'.repeat(500) + '\nalso.good:2|c\n')
  await waitFor(() => queue.bytes === 'good:1|c\nalso.good:2|c\n'.length, 'the good lines')
  t.equal(drain(queue).join(''), 'good:1|c\nalso.good:2|c\n')
  t.equal(counters.oversizedLines, 2)
  await waitFor(() => records.length >= 2, 'log records')
  const warnings = records.filter((r) => r.level === 40 && r.msg === 'line longer than maxLineBytes dropped')
  t.equal(warnings.length, 1, 'one warning per connection, later ones at debug')
  t.equal(warnings[0]!.start, 'x'.repeat(100), 'the payload shown is cut to 100 bytes')
})

t.test('tcp: an idle client is disconnected and counted', async (t) => {
  const { queue, counters } = setup()
  const listener = track(t, await startTcpListener(tcpConfig({ idleTimeoutMs: 50 }), queue, counters, log))
  const client = await connect(t, { host: '127.0.0.1', port: tcpPort(listener) })
  await write(client, 'pending:1|c')
  await closed(client)
  t.equal(counters.idleTimeouts, 1)
  t.same(drain(queue), ['pending:1|c\n'], 'the pending line is kept')
})

t.test('tcp: a client reset is counted and does not stop the server', async (t) => {
  const { queue, counters } = setup()
  const listener = track(t, await startTcpListener(tcpConfig(), queue, counters, log))
  const port = tcpPort(listener)
  const rude = await connect(t, { host: '127.0.0.1', port })
  await write(rude, 'a:1|c\n')
  await waitFor(() => queue.length === 1, 'the first line')
  rude.resetAndDestroy()
  await waitFor(() => counters.connectionErrors === 1, 'the reset to be counted')
  const polite = await connect(t, { host: '127.0.0.1', port })
  polite.end('b:2|c\n')
  await waitFor(() => queue.length === 2, 'the next client line')
  t.same(drain(queue), ['a:1|c\n', 'b:2|c\n'])
})

t.test('tcp: close() flushes partial lines and disconnects clients', async (t) => {
  const { queue } = setup()
  const listener = await startTcpListener(tcpConfig(), queue, new IngestCounters(), log)
  const port = tcpPort(listener)
  const client = await connect(t, { host: '127.0.0.1', port })
  client.on('error', () => {})
  const clientClosed = closed(client)
  await write(client, 'a:1|c\nhalf:2|c')
  await waitFor(() => queue.length === 1, 'the complete line')
  await within(listener.close(), 'listener close')
  t.same(drain(queue), ['a:1|c\n', 'half:2|c\n'])
  await clientClosed
  const refused = net.connect({ host: '127.0.0.1', port })
  await t.rejects(
    within(new Promise((resolve, reject) => refused.once('connect', resolve).once('error', reject)), 'refusal'),
    { code: 'ECONNREFUSED' },
  )
  refused.destroy()
})

t.test('tcp: a port in use is a clear error', async (t) => {
  const holder = net.createServer()
  t.teardown(() => new Promise<void>((resolve) => holder.close(() => resolve())))
  await new Promise<void>((resolve) => holder.listen(0, '127.0.0.1', resolve))
  const port = (holder.address() as net.AddressInfo).port
  const { queue, counters } = setup()
  await t.rejects(startTcpListener(tcpConfig({ port }), queue, counters, log), {
    message: new RegExp(`^cannot listen on tcp 127\\.0\\.0\\.1:${port}: address already in use$`),
  })
})

// ---------------------------------------------------------------- unix

/** A socket path in a short temp dir of the test (sun_path holds only ~108 bytes). */
function socketPath(t: Test, name = 's.sock'): string {
  return path.join(shortTempDir(t), name)
}

t.test('unix: receives lines, applies mode, removes the socket on close', async (t) => {
  const p = socketPath(t)
  const { queue, counters } = setup()
  const listener = await startUnixListener(unixConfig(p, { mode: '600' }), queue, counters, log)
  t.equal(listener.description, `unix ${p}`)
  t.same(listener.boundAddress, { path: p })
  t.equal(fs.statSync(p).mode & 0o777, 0o600)
  const client = await connect(t, { path: p })
  client.end('u:1|c\nend:2|c')
  await closed(client)
  await waitFor(() => queue.length === 2, 'two packets')
  t.same(drain(queue), ['u:1|c\n', 'end:2|c\n'])
  await listener.close()
  t.equal(fs.existsSync(p), false, 'socket file removed')
})

t.test('unix: a different mode is applied too', async (t) => {
  const p = socketPath(t)
  const listener = track(t, await startUnixListener(unixConfig(p, { mode: '660' }), setup().queue, new IngestCounters(), log))
  t.ok(listener)
  t.equal(fs.statSync(p).mode & 0o777, 0o660)
})

t.test('unix: a stale socket file is replaced', async (t) => {
  const dir = socketPath(t, '')
  const p = path.join(dir, 's.sock')
  // A socket file nobody listens on: hard-link a live one, then close it
  // (closing unlinks only the original name).
  const original = path.join(dir, 'orig.sock')
  const old = net.createServer()
  await new Promise<void>((resolve) => old.listen(original, resolve))
  fs.linkSync(original, p)
  await new Promise<void>((resolve) => old.close(() => resolve()))
  t.ok(fs.lstatSync(p).isSocket(), 'a stale socket is left at the path')
  const { queue, counters } = setup()
  const listener = track(t, await startUnixListener(unixConfig(p), queue, counters, log))
  const client = await connect(t, { path: p })
  client.end('fresh:1|c\n')
  await waitFor(() => queue.length === 1, 'a packet')
  t.same(drain(queue), ['fresh:1|c\n'])
  t.ok(listener)
})

t.test('unix: a socket a live server uses is refused', async (t) => {
  const p = socketPath(t)
  const live = net.createServer((s) => s.destroy())
  t.teardown(() => new Promise<void>((resolve) => live.close(() => resolve())))
  await new Promise<void>((resolve) => live.listen(p, resolve))
  await t.rejects(startUnixListener(unixConfig(p), setup().queue, new IngestCounters(), log), {
    message: /already in use by a running process/,
  })
  t.ok(fs.lstatSync(p).isSocket(), 'the live socket is left alone')
})

t.test('unix: a regular file at the path is refused and kept', async (t) => {
  const p = socketPath(t)
  fs.writeFileSync(p, 'precious')
  await t.rejects(startUnixListener(unixConfig(p), setup().queue, new IngestCounters(), log), {
    message: /exists and is not a socket/,
  })
  t.equal(fs.readFileSync(p, 'utf8'), 'precious')
})

t.test('unix: close() flushes partial lines', async (t) => {
  const p = socketPath(t)
  const { queue } = setup()
  const listener = await startUnixListener(unixConfig(p), queue, new IngestCounters(), log)
  const client = await connect(t, { path: p })
  client.on('error', () => {})
  const clientClosed = closed(client)
  await write(client, 'a:1|c\nhalf:2|c')
  await waitFor(() => queue.length === 1, 'the complete line')
  await within(listener.close(), 'listener close')
  await clientClosed
  t.same(drain(queue), ['a:1|c\n', 'half:2|c\n'])
  t.equal(fs.existsSync(p), false)
})

// ---------------------------------------------------------------- dispatch

t.test('startListener dispatches on the listener type', async (t) => {
  const { queue, counters } = setup()
  const udp = track(t, await startListener(udpConfig(), queue, counters, log))
  t.match(udp.description, /^udp 127\.0\.0\.1:\d+$/)
  const tcp = track(t, await startListener(tcpConfig(), queue, counters, log))
  t.match(tcp.description, /^tcp 127\.0\.0\.1:\d+$/)
  const p = socketPath(t)
  const unix = track(t, await startListener(unixConfig(p), queue, counters, log))
  t.equal(unix.description, `unix ${p}`)
})
