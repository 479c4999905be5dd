import { spawn } from 'node:child_process'
import dgram from 'node:dgram'
import { once } from 'node:events'
import fs from 'node:fs'
import path from 'node:path'
import { Writable } from 'node:stream'
import pino from 'pino'
import t, { type Test } from 'tap'
import { Aggregator } from '../src/aggregate/aggregator'
import { type UdpListenerConfig, type UnixgramListenerConfig, configSchema } from '../src/config/schema'
import { IngestCounters } from '../src/core/ingest-counters'
import { type Listener, startListener } from '../src/listeners/listener'
import { PacketQueue } from '../src/queue/queue'
import { nativeReader } from '../src/listeners/datagram/native-reader'
import { startUdpDatagramListener } from '../src/listeners/datagram/udp-native'
import { startUnixgramListener } from '../src/listeners/datagram/unixgram'
import { silentLogger } from '../src/log'
import { DatagramBatch, forEachDatagram, type Packet, packetCount } from '../src/parse/packets'
import { ipv6Unavailable, sendUdp, shortTempDir, waitFor, withTimeout } from './helpers/net'
import { sendUnixgram } from './helpers/unixgram'

/* The recvmmsg reader (UDP and unix datagram sockets). The node:dgram fallback is tested in ingest.test.ts. */

const log = silentLogger()

function setup(): { queue: PacketQueue; counters: IngestCounters } {
  const counters = new IngestCounters()
  return { queue: new PacketQueue({ maxBytes: 1 << 24, maxPackets: 100_000 }, counters), counters }
}

/** The queued datagrams, one string each, whether they came in batches or not. */
function datagrams(queue: PacketQueue): string[] {
  const out: string[] = []
  for (let p: Packet | undefined = queue.shift(); p !== undefined; p = queue.shift()) {
    forEachDatagram(p, (datagram) => out.push(datagram.toString()))
    if (p instanceof DatagramBatch) p.done()
  }
  return out
}

/** Datagrams waiting in the queue (which holds batches), leaving them there in order. */
function queuedDatagrams(queue: PacketQueue): number {
  let n = 0
  const items: Packet[] = []
  for (let p = queue.shift(); p !== undefined; p = queue.shift()) items.push(p)
  for (const p of items) {
    n += p instanceof DatagramBatch ? p.count : 1
    queue.push(p)
  }
  return n
}

const udpConfig = (address = '127.0.0.1'): UdpListenerConfig => ({ type: 'udp', address, port: 0 })
const unixgramConfig = (p: string, over: Partial<UnixgramListenerConfig> = {}): UnixgramListenerConfig => ({
  type: 'unixgram',
  path: p,
  ...over,
})

function port(listener: Listener): number {
  const bound = listener.boundAddress
  if (!('port' in bound)) throw new Error('not a port listener')
  return bound.port
}

function track(t: Test, listener: Listener): Listener {
  t.teardown(() => listener.close())
  return listener
}

function captureLogger(): { logger: pino.Logger; records: { level: number; msg: string }[] } {
  const records: { level: number; msg: string }[] = []
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      records.push(JSON.parse(chunk.toString()) as { level: number; msg: string })
      done()
    },
  })
  return { logger: pino({ level: 'debug' }, sink), records }
}

t.test('the native reader is built and loads (npm ci builds it)', async (t) => {
  const reader = nativeReader()
  t.ok('addon' in reader, 'unavailable' in reader ? reader.unavailable : 'loaded')
})

t.test('udp: datagrams arrive in batches, one datagram per packet', async (t) => {
  const { queue } = setup()
  const { logger, records } = captureLogger()
  // sendUdp sends them all before this process reads any: room for all of them.
  const cfg = { ...udpConfig(), recvBufferSize: 4 << 20 }
  const listener = track(t, await startUdpDatagramListener(cfg, queue, new IngestCounters(), logger))
  t.match(listener.description, /^udp 127\.0\.0\.1:\d+$/)
  t.match(records, [{ msg: 'udp reader: recvmmsg on a reader thread (native)' }], 'the reader in use is logged')
  const messages = Array.from({ length: 300 }, (_, i) => `m${i}:1|c\nt${i}:${i}|ms`)
  messages.push('no-newline-at-end:1|c', '') // an empty datagram is no packet
  await sendUdp({ host: '127.0.0.1', port: port(listener) }, messages)
  await waitFor(() => queuedDatagrams(queue) === 301, '301 datagrams')
  t.ok(queue.length < 301, `fewer queue entries (${queue.length}) than datagrams`)

  // The aggregator counts a packet per datagram, and lines never run across datagrams.
  const aggregator = new Aggregator({ ...configSchema.parse({}), dumpMessages: false }, log)
  for (let p = queue.shift(); p !== undefined; p = queue.shift()) aggregator.ingest(p)
  const data = aggregator.flush(Date.now())
  const counter = (name: string): number | undefined => data.counters.find((c) => c.name === name)?.value
  t.equal(counter('statsd.packets_received'), 301)
  t.equal(counter('statsd.metrics_received'), 601)
  t.equal(counter('statsd.bad_lines_seen'), 0)
  t.equal(counter('m299'), 1)
  t.equal(counter('no-newline-at-end'), 1)
})

/**
 * Sends `count` datagrams from another process, one every ~`gapUs` µs (as a
 * steady client does), without blocking; resolves with how many the kernel
 * refused (EAGAIN: the receiver's queue was full).
 */
async function sendPaced(to: { port: number } | { path: string }, count: number, gapUs: number): Promise<number> {
  const [family, address] = 'port' in to ? ['AF_INET', `("127.0.0.1", ${to.port})`] : ['AF_UNIX', JSON.stringify(to.path)]
  const script = [
    'import socket, time',
    `s = socket.socket(socket.${family}, socket.SOCK_DGRAM)`,
    's.setblocking(False)',
    'refused = 0',
    `for i in range(${count}):`,
    '    try:',
    `        s.sendto(b"paced:1|c", ${address})`,
    '    except BlockingIOError:',
    '        refused += 1',
    `    time.sleep(${gapUs / 1e6})`,
    'print(refused)',
  ].join('\n')
  const child = spawn('python3', ['-c', script], { stdio: ['ignore', 'pipe', 'inherit'] })
  let out = ''
  child.stdout.on('data', (d: Buffer) => (out += d.toString()))
  const [code] = (await once(child, 'exit')) as [number | null]
  if (code !== 0) throw new Error(`python3 sender exited with ${code}`)
  return Number(out.trim())
}

// The reader waits a tick between reads only when the buffer has room for it (1 MiB as the kernel reports it).
const rmemMax = Number(fs.readFileSync('/proc/sys/net/core/rmem_max', 'utf8'))
const noBigBuffer = rmemMax < 1 << 19 ? `net.core.rmem_max is ${rmemMax}: no buffer large enough to batch with` : false

t.test('udp: with a large receive buffer, a steady one-datagram-at-a-time client is read in batches', { skip: noBigBuffer }, async (t) => {
  const { queue } = setup()
  let batches = 0
  let received = 0
  queue.onPush = (packet) => {
    batches++
    received += packetCount(packet)
  }
  const cfg = { ...udpConfig(), recvBufferSize: 1 << 21 }
  const listener = track(t, await startUdpDatagramListener(cfg, queue, new IngestCounters(), log))
  const count = 2_000
  // About 5k datagrams/s: read on every wakeup, nearly every datagram would be a batch of its own.
  t.equal(await sendPaced({ port: port(listener) }, count, 200), 0, 'the kernel took every datagram')
  await waitFor(() => received === count, `${count} datagrams`)
  t.ok(batches <= count / 5, `${count} datagrams came in ${batches} batches`)
  queue.onPush = null
  t.equal(datagrams(queue).filter((d) => d === 'paced:1|c').length, count, 'none lost, none altered')
})

t.test('udp: close() first reads datagrams already received by the kernel', async (t) => {
  const { queue } = setup()
  const listener = await startUdpDatagramListener(udpConfig(), queue, new IngestCounters(), log)
  const messages = Array.from({ length: 200 }, (_, i) => `m${i}:1|c`)
  await sendUdp({ host: '127.0.0.1', port: port(listener) }, messages)
  await listener.close()
  t.same(datagrams(queue), messages)
})

t.test('udp: IPv6', async (t) => {
  const skip = await ipv6Unavailable()
  t.test('receive on ::1', { skip }, async (t) => {
    const { queue } = setup()
    const listener = track(t, await startUdpDatagramListener(udpConfig('::1'), queue, new IngestCounters(), log))
    t.equal(listener.description, `udp [::1]:${port(listener)}`)
    await sendUdp({ host: '::1', port: port(listener) }, ['v6:1|c'])
    await waitFor(() => queue.length === 1, 'a datagram')
    t.same(datagrams(queue), ['v6:1|c'])
  })
})

t.test('udp: recvBufferSize is applied, and a capped one is reported', async (t) => {
  const { queue } = setup()
  const { logger, records } = captureLogger()
  const listener = track(t, await startUdpDatagramListener({ ...udpConfig(), recvBufferSize: 1 << 30 }, queue, new IngestCounters(), logger))
  t.match(records, [{ level: 40, msg: /receive buffer smaller than requested/ }])
  await sendUdp({ host: '127.0.0.1', port: port(listener) }, ['still:1|c'])
  await waitFor(() => queue.length === 1, 'a datagram')
  t.same(datagrams(queue), ['still:1|c'])
})

t.test('udp: a port in use is a clear error', async (t) => {
  const holder = dgram.createSocket('udp4')
  t.teardown(() => new Promise<void>((resolve) => holder.close(() => resolve())))
  await new Promise<void>((resolve) => holder.bind(0, '127.0.0.1', resolve))
  const busy = holder.address().port
  await t.rejects(startUdpDatagramListener({ ...udpConfig(), port: busy }, setup().queue, new IngestCounters(), log), {
    message: new RegExp(`^cannot listen on udp 127\\.0\\.0\\.1:${busy}: address already in use$`),
  })
})

t.test('unixgram: receives datagrams, applies mode, removes the socket on close', async (t) => {
  const p = path.join(shortTempDir(t), 'g.sock')
  const { queue, counters } = setup()
  const listener = await startListener(unixgramConfig(p, { mode: '620' }), queue, counters, log)
  t.equal(listener.description, `unixgram ${p}`)
  t.same(listener.boundAddress, { path: p })
  t.equal(fs.statSync(p).mode & 0o777, 0o620)
  const messages = Array.from({ length: 500 }, (_, i) => `u${i}:1|c`)
  await sendUnixgram(p, messages)
  await waitFor(() => queuedDatagrams(queue) === 500, '500 datagrams')
  t.same(datagrams(queue), messages)
  await listener.close()
  t.equal(fs.existsSync(p), false, 'socket file removed')
})

t.test('unixgram: read at once even with a large buffer (the kernel queues only max_dgram_qlen datagrams)', async (t) => {
  const p = path.join(shortTempDir(t), 'paced.sock')
  const { queue, counters } = setup()
  track(t, await startListener(unixgramConfig(p, { recvBufferSize: 1 << 21 }), queue, counters, log))
  const count = 1_000
  // Parsed and given back as the server does: each datagram, read as it comes, is a slab of its own.
  let received = 0
  const consumer = setInterval(() => {
    for (let p = queue.shift(); p !== undefined; p = queue.shift()) {
      received += packetCount(p)
      if (p instanceof DatagramBatch) p.done()
    }
  }, 1)
  t.teardown(() => clearInterval(consumer))
  // About 3k/s. Read every few milliseconds instead, most would be refused; a busy machine may cost a few.
  const refused = await sendPaced({ path: p }, count, 300)
  t.ok(refused < count / 20, `${refused} of ${count} datagrams refused to a non-blocking client`)
  await waitFor(() => received === count - refused, `${count - refused} datagrams`)
  t.equal(counters.queueDroppedPackets, 0)
})

t.test('unixgram: a datagram over 64 KiB is dropped and counted; the next one arrives', async (t) => {
  const p = path.join(shortTempDir(t), 'g.sock')
  const { queue, counters } = setup()
  const { logger, records } = captureLogger()
  track(t, await startUnixgramListener(unixgramConfig(p, { recvBufferSize: 1 << 20 }), queue, counters, logger))
  await sendUnixgram(p, [`big:1|c\n${'x'.repeat(70_000)}`, 'after:1|c'])
  await waitFor(() => queue.length === 1 && counters.oversizedLines === 1, 'the small datagram and the count')
  t.same(datagrams(queue), ['after:1|c'])
  t.match(records.filter((r) => r.level === 40), [{ msg: /datagram larger than 64 KiB dropped/ }])
})

t.test('unixgram: a stale socket file is replaced, a live one is refused, a regular file is kept', async (t) => {
  const dir = shortTempDir(t)
  const p = path.join(dir, 'g.sock')
  const first = await startUnixgramListener(unixgramConfig(p), setup().queue, new IngestCounters(), log)
  // Keep a second name for the file, then close: the file at p now has no reader.
  fs.linkSync(p, path.join(dir, 'keep.sock'))
  await t.rejects(startUnixgramListener(unixgramConfig(path.join(dir, 'keep.sock')), setup().queue, new IngestCounters(), log), {
    message: /already in use by a running process/,
  })
  await first.close()
  fs.linkSync(path.join(dir, 'keep.sock'), p)
  t.ok(fs.lstatSync(p).isSocket(), 'a stale socket is left at the path')
  const { queue, counters } = setup()
  track(t, await startUnixgramListener(unixgramConfig(p), queue, counters, log))
  await sendUnixgram(p, ['fresh:1|c'])
  await waitFor(() => queue.length === 1, 'a datagram')
  t.same(datagrams(queue), ['fresh:1|c'])

  const file = path.join(dir, 'precious')
  fs.writeFileSync(file, 'precious')
  await t.rejects(startUnixgramListener(unixgramConfig(file), setup().queue, new IngestCounters(), log), {
    message: /exists and is not a socket/,
  })
  t.equal(fs.readFileSync(file, 'utf8'), 'precious')
})

t.test('unixgram: close() leaves a socket file that another process put there', async (t) => {
  const dir = shortTempDir(t)
  const p = path.join(dir, 'g.sock')
  const listener = await startUnixgramListener(unixgramConfig(p), setup().queue, new IngestCounters(), log)
  fs.renameSync(p, path.join(dir, 'moved.sock'))
  fs.writeFileSync(p, 'someone else')
  await withTimeout(listener.close(), 5_000, 'close')
  t.equal(fs.readFileSync(p, 'utf8'), 'someone else')
})
