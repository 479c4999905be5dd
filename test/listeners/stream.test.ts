import { once } from 'node:events'
import net from 'node:net'
import path from 'node:path'
import { setImmediate as nextTurn, setTimeout as sleep } from 'node:timers/promises'
import pino from 'pino'
import t, { type Test } from 'tap'
import type { TcpListenerConfig } from '../../src/config/schema'
import { IngestCounters } from '../../src/core/ingest-counters'
import type { Listener } from '../../src/listeners/listener'
import { PacketQueue } from '../../src/queue/queue'
import { StreamClient, StreamClients } from '../../src/listeners/stream/clients'
import type { Logger } from '../../src/log'
import { startTcpListener } from '../../src/listeners/stream/tcp'
import { startUnixListener } from '../../src/listeners/stream/unix'
import { shortTempDir, waitFor, withTimeout } from '../helpers/net'

/*
 * Per-connection behaviour of the stream listeners, for both ways of reading
 * clients: libuv handles (the default) and net.Socket (the fallback, forced
 * with STATSD_TS_FAST_STREAMS=off).
 */

const DEADLINE_MS = 5_000
const READERS = [
  { name: 'libuv handles', env: undefined },
  { name: 'net.Socket', env: 'off' },
] as const

type LogRecord = { level: number; msg: string; reason?: string }

function capture(): { log: Logger; records: LogRecord[] } {
  const records: LogRecord[] = []
  return { log: pino({ level: 'debug' }, { write: (line: string) => records.push(JSON.parse(line) as LogRecord) }), records }
}

function drain(queue: PacketQueue): string {
  let out = ''
  for (let buf = queue.shift(); buf !== undefined; buf = queue.shift()) out += buf.toString()
  return out
}

function config(over: Partial<TcpListenerConfig> = {}): TcpListenerConfig {
  return { type: 'tcp', address: '127.0.0.1', port: 0, maxLineBytes: 1024, idleTimeoutMs: 60_000, ...over }
}

function port(listener: Listener): number {
  return (listener.boundAddress as { port: number }).port
}

/** A connected client whose close (by either side) is awaited as `closed`. */
async function connect(t: Test, opts: net.NetConnectOpts): Promise<{ socket: net.Socket; closed: Promise<void> }> {
  const socket = net.connect(opts)
  socket.on('error', () => {})
  t.teardown(() => socket.destroy())
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()))
  await withTimeout(once(socket, 'connect'), DEADLINE_MS, 'connect')
  return { socket, closed }
}

for (const reader of READERS) {
  t.test(`stream listeners read with ${reader.name}`, async (t) => {
    const before = process.env.STATSD_TS_FAST_STREAMS
    if (reader.env === undefined) delete process.env.STATSD_TS_FAST_STREAMS
    else process.env.STATSD_TS_FAST_STREAMS = reader.env
    t.teardown(() => {
      if (before === undefined) delete process.env.STATSD_TS_FAST_STREAMS
      else process.env.STATSD_TS_FAST_STREAMS = before
    })

    async function start(
      t: Test,
      over: Partial<TcpListenerConfig> = {},
      limits = { maxBytes: 1 << 20, maxPackets: 10_000 },
    ): Promise<{ listener: Listener; queue: PacketQueue; counters: IngestCounters; records: LogRecord[] }> {
      const counters = new IngestCounters()
      const queue = new PacketQueue(limits, counters)
      const { log, records } = capture()
      const listener = await startTcpListener(config(over), queue, counters, log)
      t.teardown(() => listener.close(0))
      return { listener, queue, counters, records }
    }

    t.test('the reader in use is logged, with the reason for a fallback', async (t) => {
      const { records } = await start(t)
      const said = records.find((r) => r.msg.startsWith('stream reader:'))
      t.equal(said?.msg.slice('stream reader: '.length, 'stream reader: '.length + reader.name.length), reader.name)
      if (reader.env === 'off') t.match(said, { level: 40, reason: /STATSD_TS_FAST_STREAMS=off/ })
    })

    t.test('one line per connection, over TCP and unix: every line queued, every connection forgotten', async (t) => {
      const counters = new IngestCounters()
      const queue = new PacketQueue({ maxBytes: 1 << 20, maxPackets: 10_000 }, counters)
      const log = pino({ level: 'silent' })
      const tcp = await startTcpListener(config(), queue, counters, log)
      const unix = await startUnixListener(
        { type: 'unix', path: path.join(shortTempDir(t), 's.sock'), maxLineBytes: 1024, idleTimeoutMs: 60_000 },
        queue,
        counters,
        log,
      )
      t.teardown(() => Promise.all([tcp.close(0), unix.close(0)]))
      const expected: string[] = []
      const targets: net.NetConnectOpts[] = [{ host: '127.0.0.1', port: port(tcp) }, { path: (unix.boundAddress as { path: string }).path }]
      for (let i = 0; i < 100; i++) {
        const line = `conn.${i}:1|c${i % 3 === 0 ? '' : '\n'}` // a last line without newline counts too
        expected.push(line.endsWith('\n') ? line : `${line}\n`)
        const client = await connect(t, targets[i % 2]!)
        client.socket.end(line)
        if (i % 10 === 0) await client.closed
      }
      await waitFor(() => tcp.status!().connectionsOpen === 0 && unix.status!().connectionsOpen === 0, 'every connection closed')
      await waitFor(() => queue.bytes === expected.join('').length, 'every line')
      t.same(drain(queue).split('\n').sort(), expected.join('').split('\n').sort())
      t.equal(counters.connectionErrors, 0)
    })

    t.test('maxConnections: a client past it is closed at once, counted and logged; a freed place is used again', async (t) => {
      const { listener, queue, counters, records } = await start(t, { maxConnections: 2 })
      const target = { host: '127.0.0.1', port: port(listener) }
      const served = [await connect(t, target), await connect(t, target)]
      await waitFor(() => listener.status!().connectionsOpen === 2, 'two clients served')
      const refused = [await connect(t, target), await connect(t, target)]
      await withTimeout(Promise.all(refused.map((c) => c.closed)), DEADLINE_MS, 'refused clients closed')
      t.equal(counters.refusedConnections, 2)
      t.equal(records.filter((r) => r.msg.startsWith('client refused: maxConnections reached')).length, 1, 'logged once, rate-limited')
      served[0]!.socket.end('a:1|c\n')
      await served[0]!.closed
      await waitFor(() => listener.status!().connectionsOpen === 1, 'a place freed')
      const next = await connect(t, target)
      next.socket.end('b:1|c\n')
      await next.closed
      await waitFor(() => queue.length === 2, 'both lines')
      t.equal(drain(queue), 'a:1|c\nb:1|c\n')
      t.equal(counters.refusedConnections, 2, 'the later client was served')
    })

    t.test('idle clients: a silent one is disconnected after idleTimeoutMs, not before; a talking one is kept', async (t) => {
      const idleTimeoutMs = 300
      const { listener, queue, counters } = await start(t, { idleTimeoutMs })
      const target = { host: '127.0.0.1', port: port(listener) }
      const silent = await connect(t, target)
      const connectedAt = Date.now()
      silent.socket.write('partial:1|c')
      const talking = await connect(t, target)
      const talk = setInterval(() => talking.socket.write('t:1|c\n'), idleTimeoutMs / 4)
      t.teardown(() => clearInterval(talk))
      await withTimeout(silent.closed, DEADLINE_MS, 'silent client disconnected')
      const after = Date.now() - connectedAt
      t.ok(after >= idleTimeoutMs - 5, `not before idleTimeoutMs (${after} ms)`)
      t.equal(counters.idleTimeouts, 1)
      t.equal(talking.socket.destroyed, false, 'the talking client is still connected')
      t.match(drain(queue), /^(t:1\|c\n)*partial:1\|c\n(t:1\|c\n)*$/, 'the silent client’s partial line was kept')
      clearInterval(talk)
      await withTimeout(talking.closed, DEADLINE_MS, 'the talking client disconnected once silent')
      t.equal(counters.idleTimeouts, 2)
    })

    t.test('backpressure: above the high-water mark clients are neither read nor timed out; below it reading resumes', async (t) => {
      const idleTimeoutMs = 100
      const { listener, queue, counters } = await start(t, { idleTimeoutMs }, { maxBytes: 1000, maxPackets: 100 })
      queue.pushStream(Buffer.alloc(600, 'x'))
      t.equal(queue.paused, true)
      const client = await connect(t, { host: '127.0.0.1', port: port(listener) })
      client.socket.write('held:1|c\n')
      await sleep(3 * idleTimeoutMs)
      t.equal(queue.length, 1, 'nothing read while paused')
      t.equal(counters.idleTimeouts, 0, 'not idle: we are the ones not reading')
      t.equal(client.socket.destroyed, false)
      queue.shift()
      await waitFor(() => queue.length === 1, 'the held line, once resumed')
      t.equal(drain(queue), 'held:1|c\n')
      await withTimeout(client.closed, DEADLINE_MS, 'idle again once resumed')
      t.equal(counters.idleTimeouts, 1)
    })

    t.test('close(): clients get a FIN, their last lines are kept, the listener stops accepting', async (t) => {
      const { listener, queue, counters } = await start(t)
      const target = { host: '127.0.0.1', port: port(listener) }
      const client = await connect(t, target)
      client.socket.write('last:1|c\nunfinished:2|c')
      await waitFor(() => queue.length === 1, 'the first line')
      const ended = once(client.socket, 'end')
      const closing = listener.close(5_000)
      await withTimeout(ended, DEADLINE_MS, 'the FIN')
      client.socket.end()
      await withTimeout(closing, DEADLINE_MS, 'close()')
      t.equal(drain(queue), 'last:1|c\nunfinished:2|c\n')
      t.equal(counters.shutdownDisconnects, 0)
      const late = net.connect(target)
      const [err] = (await withTimeout(once(late, 'error'), DEADLINE_MS, 'refused')) as [NodeJS.ErrnoException]
      t.equal(err.code, 'ECONNREFUSED')
    })

    t.test('a busy unix client: every line, in order, and its last line at EOF', async (t) => {
      const counters = new IngestCounters()
      // Room for a packet per write (net.Socket): this test drains only at the end.
      const queue = new PacketQueue({ maxBytes: 64 << 20, maxPackets: 1 << 20 }, counters)
      const unix = await startUnixListener(
        { type: 'unix', path: path.join(shortTempDir(t), 's.sock'), maxLineBytes: 1024, idleTimeoutMs: 60_000 },
        queue,
        counters,
        pino({ level: 'silent' }),
      )
      t.teardown(() => unix.close(0))
      const client = await connect(t, { path: (unix.boundAddress as { path: string }).path })
      let expected = ''
      const startedAt = Date.now()
      // Writes a turn apart for 100 ms: read again and again within the hold time.
      for (let i = 0; Date.now() - startedAt < 100; i++) {
        const chunk = `busy.${i}:1|c\nbusy.${i}:2|` // lines cut across writes
        expected += chunk
        client.socket.write(chunk)
        await nextTurn()
      }
      client.socket.end('c')
      expected += 'c\n'
      await withTimeout(client.closed, DEADLINE_MS, 'closed at EOF')
      await waitFor(() => queue.bytes === expected.length, 'every line')
      // How few reads the holds take is a speed figure: bench:e2e's Unix stream rows measure it.
      t.equal(drain(queue), expected)
      t.equal(counters.connectionErrors, 0)
    })

    t.test('a reset client is counted as a connection error and forgotten', async (t) => {
      const { listener, counters } = await start(t)
      const client = await connect(t, { host: '127.0.0.1', port: port(listener) })
      await waitFor(() => listener.status!().connectionsOpen === 1, 'connected')
      client.socket.resetAndDestroy()
      await waitFor(() => counters.connectionErrors === 1, 'the reset counted')
      await waitFor(() => listener.status!().connectionsOpen === 0, 'forgotten')
    })
  })
}

/** A client that records what the listener asks of it; readNow() hands out `queued` (a chunk, 'eof' or an Error). */
class FakeClient extends StreamClient {
  calls: string[] = []
  queued: (Buffer | 'eof' | Error)[] = []
  constructor(private readonly direct = true) {
    super()
  }
  override get readsDirectly(): boolean {
    return this.direct
  }
  peer(): string {
    return 'fake'
  }
  stopReading(): void {
    this.calls.push('stop')
  }
  startReading(): void {
    this.calls.push('start')
  }
  sendFin(): void {
    this.calls.push('fin')
  }
  close(): void {
    this.calls.push('close')
  }
  override readNow(into: Buffer): number {
    this.calls.push('readNow')
    const next = this.queued.shift()
    if (next === undefined) return -1
    if (next === 'eof') return 0
    if (next instanceof Error) throw next
    return next.copy(into)
  }
}

function holding(t: Test, limits = { maxBytes: 1 << 20, maxPackets: 10_000 }): { clients: StreamClients; queue: PacketQueue; counters: IngestCounters } {
  const counters = new IngestCounters()
  const queue = new PacketQueue(limits, counters)
  const clients = new StreamClients(config(), queue, counters, pino({ level: 'silent' }), 0, true)
  t.teardown(() => clients.stop(0))
  return { clients, queue, counters }
}

const LINE = Buffer.from('s:1|c\n')
/** Longer than a hold, and than the timer's lateness on a loaded machine. */
const AFTER_A_HOLD_MS = 30

t.test('a client read again within the hold time is held; one read less often never is', async (t) => {
  const { clients, queue } = holding(t)
  const slow = new FakeClient()
  clients.add(slow)
  clients.data(slow, LINE)
  await sleep(AFTER_A_HOLD_MS)
  clients.data(slow, LINE)
  t.same(slow.calls, ['start'], 'reads further apart than the hold time: not held')

  const busy = new FakeClient()
  clients.add(busy)
  clients.data(busy, LINE)
  t.same(busy.calls, ['start'], 'one read: not held')
  clients.data(busy, LINE)
  t.same(busy.calls, ['start', 'stop'], 'read again at once: held')

  const backlogged = new FakeClient()
  clients.add(backlogged)
  for (let i = 0; i < 5; i++) clients.data(backlogged, Buffer.alloc(64 * 1024, '\n'))
  t.same(backlogged.calls, ['start'], 'reads that fill the buffer mean a backlog: never held')
  t.equal(queue.length, 2 + 2 + 5, 'every chunk queued')
})

t.test('a held client is read directly on the hold timer while it has data, then on readiness again', async (t) => {
  const { clients, queue } = holding(t)
  const busy = new FakeClient()
  clients.add(busy)
  clients.data(busy, LINE)
  clients.data(busy, LINE)
  busy.queued.push(Buffer.from('a:1|c\n'))
  await waitFor(() => busy.calls.length === 3, 'the first tick')
  t.same(busy.calls, ['start', 'stop', 'readNow'], 'read directly, and held again: no readiness watch')
  busy.queued.push(Buffer.from('b:2|c\nc:3|'), Buffer.from('c\n'))
  await waitFor(() => busy.calls.length === 4, 'the second tick')
  await waitFor(() => busy.calls.length === 5, 'the third tick')
  await waitFor(() => busy.calls.length === 7, 'the fourth tick')
  t.same(busy.calls.slice(3), ['readNow', 'readNow', 'readNow', 'start'], 'a tick that finds nothing ends the hold')
  t.equal(drain(queue), 's:1|c\ns:1|c\na:1|c\nb:2|c\nc:3|c\n', 'in order, the line split across reads whole')
  await sleep(AFTER_A_HOLD_MS)
  t.equal(busy.calls.length, 7, 'not read again until it is ready')
})

t.test('a held client at EOF or failing is ended like any other', async (t) => {
  const { clients, queue, counters } = holding(t)
  const ending = new FakeClient()
  const failing = new FakeClient()
  for (const client of [ending, failing]) {
    clients.add(client)
    clients.data(client, LINE)
    clients.data(client, LINE)
  }
  ending.queued.push(Buffer.from('last:1|c'), 'eof')
  failing.queued.push(Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' }))
  await waitFor(() => ending.calls.includes('close') && failing.calls.includes('close'), 'both closed')
  t.same(ending.calls, ['start', 'stop', 'readNow', 'readNow', 'close'])
  t.same(failing.calls, ['start', 'stop', 'readNow', 'close'])
  t.equal(counters.connectionErrors, 1)
  t.equal(drain(queue), 's:1|c\ns:1|c\ns:1|c\ns:1|c\nlast:1|c\n', 'the partial last line kept')
  t.equal(clients.size, 0)
})

t.test('a held client is not read while the queue is above its high-water mark', async (t) => {
  const { clients, queue } = holding(t, { maxBytes: 1000, maxPackets: 100 })
  const busy = new FakeClient()
  clients.add(busy)
  clients.data(busy, LINE)
  clients.data(busy, LINE)
  busy.queued.push(Buffer.from('a:1|c\n'))
  queue.pushStream(Buffer.alloc(600, '\n'))
  t.equal(queue.paused, true)
  await sleep(AFTER_A_HOLD_MS)
  t.same(busy.calls, ['start', 'stop', 'stop'], 'paused, and not read on the timer')
  drain(queue)
  t.equal(queue.paused, false)
  await waitFor(() => busy.calls.length === 4, 'a tick once resumed')
  t.same(busy.calls.slice(3), ['readNow'])
  t.equal(drain(queue), 'a:1|c\n')
})

t.test('a client that cannot be read directly (net.Socket) is never held: paused, it would go on reading anyway', async (t) => {
  const { clients, queue } = holding(t)
  const busy = new FakeClient(false)
  clients.add(busy)
  for (let i = 0; i < 100; i++) clients.data(busy, LINE)
  t.same(busy.calls, ['start'])
  t.equal(queue.length, 100)
})

t.test('a TCP listener never holds: loopback TCP already merges a busy client’s writes into fewer reads', async (t) => {
  const counters = new IngestCounters()
  const queue = new PacketQueue({ maxBytes: 1 << 20, maxPackets: 10_000 }, counters)
  const clients = new StreamClients(config(), queue, counters, pino({ level: 'silent' }), 0, false)
  t.teardown(() => clients.stop(0))
  const busy = new FakeClient()
  clients.add(busy)
  for (let i = 0; i < 100; i++) clients.data(busy, LINE)
  t.same(busy.calls, ['start'])
  t.equal(queue.length, 100)
})

/** A held client whose readNow() finds `bytes(elapsed ms since its last read)` bytes of whole lines; records its reads. */
class KernelClient extends FakeClient {
  readBytes = 0
  private lastRead = performance.now()
  constructor(private readonly bytes: (elapsedMs: number) => number) {
    super()
  }
  override readNow(into: Buffer): number {
    this.calls.push('readNow')
    const now = performance.now()
    const n = Math.min(into.length, Math.floor(this.bytes(now - this.lastRead) / LINE.length) * LINE.length)
    this.lastRead = now
    for (let at = 0; at < n; at += LINE.length) LINE.copy(into, at)
    this.readBytes += n
    return n > 0 ? n : -1
  }
}

t.test('a held client blocked on its full socket buffer is read on readiness again; one that writes at its own pace stays held', async (t) => {
  const { clients, queue } = holding(t)
  // Blocked: the kernel holds the same full buffer's worth (about 265 one-line writes) whenever it is read.
  const blocked = new KernelClient(() => 265 * LINE.length)
  // At its own pace: 2 bytes a microsecond, however long the tick.
  const paced = new KernelClient((ms) => 2_000 * ms)
  for (const client of [blocked, paced]) {
    clients.add(client)
    clients.data(client, LINE)
    clients.data(client, LINE)
  }
  await waitFor(() => blocked.calls.at(-1) === 'start', 'the blocked client let go')
  t.same(blocked.calls.slice(0, 3), ['start', 'stop', 'readNow'], 'held at first')
  t.ok(blocked.calls.slice(2, -1).every((call) => call === 'readNow'), 'then read on the timer until let go')
  // Busy on readiness, but not held again for a while.
  clients.data(blocked, LINE)
  clients.data(blocked, LINE)
  t.equal(blocked.calls.at(-1), 'start', 'not held again at once')

  // Several probes (every 8th tick) later, the paced client is still held.
  await waitFor(() => paced.calls.length > 40, 'five probes')
  t.same(paced.calls.slice(0, 2), ['start', 'stop'])
  t.ok(paced.calls.slice(2).every((call) => call === 'readNow'), 'only read on the timer')
  t.equal(queue.bytes, blocked.readBytes + paced.readBytes + 6 * LINE.length, 'every byte read is queued')
})
