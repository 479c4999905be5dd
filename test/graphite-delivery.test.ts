import t, { type Test } from 'tap'
import { once } from 'node:events'
import net from 'node:net'
import { graphiteValues } from './helpers/graphite-lines'
import { sendStream, sendUdp, shortTempDir, waitFor, withTimeout } from './helpers/net'
import { ServerProcess } from './helpers/server-process'

/*
 * Issue 24: the Graphite TCP backend counts a flush delivered once the
 * receiver's TCP stack acknowledged it (or the receiver closed), never
 * waits for a receiver to close its end, never sends an acknowledged flush
 * twice, and never makes a new flush wait behind a stuck one.
 */

interface Connection {
  acceptedAt: number
  /** When our FIN arrived: the whole flush was read. */
  endedAt: number | null
  chunks: Buffer[]
  socket: net.Socket
}

/**
 * A Graphite receiver on loopback that keeps every connection it accepted.
 * `reading` decides whether a new connection is read; `close` how it ends.
 */
class Receiver {
  readonly connections: Connection[] = []
  reading = true
  private readonly server: net.Server

  constructor(onAccept: (conn: Connection, receiver: Receiver) => void = () => {}) {
    // allowHalfOpen: reading our FIN does not close the receiver's end; each test decides when it does.
    this.server = net.createServer({ allowHalfOpen: true }, (socket) => {
      const conn: Connection = { acceptedAt: Date.now(), endedAt: null, chunks: [], socket }
      this.connections.push(conn)
      socket.on('error', () => {})
      socket.on('data', (chunk: Buffer) => conn.chunks.push(chunk))
      socket.on('end', () => (conn.endedAt = Date.now()))
      if (!this.reading) socket.pause()
      onAccept(conn, this)
    })
  }

  static async start(t: Test, onAccept?: (conn: Connection, receiver: Receiver) => void): Promise<{ receiver: Receiver; port: number }> {
    const receiver = new Receiver(onAccept)
    receiver.server.listen(0, '127.0.0.1')
    await once(receiver.server, 'listening')
    t.teardown(() => {
      for (const c of receiver.connections) c.socket.destroy()
      receiver.server.close()
    })
    return { receiver, port: (receiver.server.address() as net.AddressInfo).port }
  }

  /** Reads every connection from now on, the held ones too (those the server reset give nothing more). */
  startReading(): void {
    this.reading = true
    for (const c of this.connections) c.socket.resume()
  }

  /** Every line of every connection whose FIN arrived. */
  lines(): string[] {
    return this.connections
      .filter((c) => c.endedAt !== null)
      .flatMap((c) => Buffer.concat(c.chunks).toString().split('\n'))
      .filter((l) => l !== '')
  }

  /** The sum of a Graphite name's values over every complete connection. */
  sum(name: string): number {
    let total = 0
    for (const c of this.connections) {
      if (c.endedAt === null) continue
      total += Number(graphiteValues(Buffer.concat(c.chunks).toString()).get(name) ?? 0)
    }
    return total
  }
}

async function startServer(t: Test, port: number, extra: object = {}): Promise<ServerProcess> {
  const server = await ServerProcess.start(shortTempDir(t), {
    listeners: [
      { type: 'udp', address: '127.0.0.1', port: 0 },
      { type: 'tcp', address: '127.0.0.1', port: 0 },
    ],
    flushInterval: 500,
    backends: [{ type: 'graphite', host: '127.0.0.1', port }],
    ...extra,
  })
  t.teardown(() => server.kill())
  return server
}

t.test('a receiver that reads everything but closes only when the test ends: each flush arrives once, within its interval', async (t) => {
  const { receiver, port } = await Receiver.start(t)
  const server = await startServer(t, port)
  const udp = server.endpoints.udp[0]!
  let sent = 0
  // Eight intervals, a counter in each.
  for (let i = 0; i < 8; i++) {
    await sendUdp(udp, ['kept.open:2|c'])
    sent += 2
    await new Promise((resolve) => setTimeout(resolve, 500))
  }
  await waitFor(() => receiver.sum('stats_counts.kept.open') === sent, 'every count')
  t.equal(await server.stop(), 0)
  const complete = receiver.connections.filter((c) => c.endedAt !== null)
  t.equal(complete.length, receiver.connections.length, 'every connection carried a whole flush')
  t.equal(receiver.sum('stats_counts.kept.open'), sent, 'each count once: no flush sent twice')
  t.ok(complete.length >= 9, `${complete.length} flushes`)
  const slowest = Math.max(...complete.map((c) => c.endedAt! - c.acceptedAt))
  t.ok(slowest < 500, `each flush was whole within one interval of its connection (slowest ${slowest} ms)`)
  const gaps = complete.slice(1).map((c, i) => c.acceptedAt - complete[i]!.acceptedAt)
  t.ok(Math.max(...gaps.slice(0, -1)) < 1000, `a connection per interval, none waiting behind another (gaps ${gaps.join(', ')} ms)`)
  t.same(server.logged('undelivered at exit, dropped'), [], 'nothing called undelivered at exit')
  t.match(server.logged('backend totals')[0], { delivered: complete.length, failedAttempts: 0, flushesDropped: 0 })
})

t.test('issue 24 repro: a receiver that closes each socket only when the next one arrives gets the flush once', async (t) => {
  const { receiver, port } = await Receiver.start(t, (_conn, r) => {
    const previous = r.connections.at(-2)
    previous?.socket.end()
  })
  const server = await startServer(t, port)
  await sendUdp(server.endpoints.udp[0]!, ['bar.ok:3|c'])
  await new Promise((resolve) => setTimeout(resolve, 1300))
  t.equal(await server.stop(), 0)
  const values = receiver.lines().filter((l) => l.startsWith('stats_counts.bar.ok '))
  t.same(
    values.map((l) => l.split(' ')[1]),
    ['3', ...values.slice(1).map(() => '0')],
    'stats_counts.bar.ok 3 arrived once (later flushes say 0)',
  )
  t.same(server.logged('undelivered at exit, dropped'), [], 'nothing called undelivered at exit')
})

t.test('a receiver that never reads, with a flush larger than the socket buffers: reset at the deadline, retried, whole once it reads', async (t) => {
  const { receiver, port } = await Receiver.start(t)
  receiver.reading = false
  const keys = 20_000
  const server = await startServer(t, port, {
    flushInterval: 1000,
    deleteCounters: true,
    backends: [{ type: 'graphite', host: '127.0.0.1', port, timeoutMs: 500, retryInitialMs: 100 }],
  })
  // About 2 MB of flush: more than the receiver's buffer and ours take. Over TCP, so that none is lost on the way in.
  await sendStream(server.endpoints.tcp[0]!, [Array.from({ length: keys }, (_, i) => `big.k${i}:1|c\n`).join('')])
  await withTimeout(server.waitForLog('delivery failed'), 10_000, 'a failed attempt')
  t.ok(receiver.connections.every((c) => c.endedAt === null), 'nothing whole reached the receiver while it did not read')
  receiver.startReading()
  await waitFor(() => receiver.lines().filter((l) => l.startsWith('stats_counts.big.k')).length >= keys, 'the whole flush')
  const counts = receiver.lines().filter((l) => l.startsWith('stats_counts.big.k'))
  const names = new Set(counts.map((l) => l.split(' ')[0]))
  t.equal(names.size, keys, 'every counter arrived')
  t.ok(counts.every((l) => l.split(' ')[1] === '1'), 'with its value')
  // Linux still hands the reader what its kernel had acknowledged before the reset: that part arrives twice.
  const twice = counts.length - names.size
  const held = receiver.connections[0]!
  const heldLines = Buffer.concat(held.chunks).toString().split('\n').filter((l) => l.startsWith('stats_counts.big.k')).length
  t.ok(twice <= heldLines, `lines that arrived twice: ${twice} of ${keys}, only from the attempt reset at its deadline`)
  t.equal(await server.stop(), 0)
  const totals = server.logged('backend totals')[0] as { failedAttempts: number; retries: number; flushesDropped: number; resentInPart: number }
  t.ok(totals.failedAttempts >= 1 && totals.retries >= 1, `reset and retried: ${JSON.stringify(totals)}`)
  t.equal(totals.flushesDropped, 0)
  t.ok(totals.resentInPart >= 1, 'the attempt reset after part of it was acknowledged is counted')
})

/*
 * The backend keeps an undelivered flush as numbers and writes its lines
 * again for each attempt, as the socket takes them (flush-record.ts): a
 * flush many times the socket buffers must still arrive whole and once, and
 * a retry must carry exactly the lines the failed attempt had begun.
 */

const TIMERS = 30_000

/** Timers whose flush (14 lines each, about 20 MB) is many times what the sockets buffer, sent over TCP so that none is lost. */
async function sendTimers(server: ServerProcess): Promise<void> {
  const lines = Array.from({ length: TIMERS }, (_, i) => `big.t${i}:${i % 97}|ms\nbig.t${i}:${(i % 89) + 0.5}|ms\nbig.t${i}:${i % 13}|ms\n`)
  await sendStream(server.endpoints.tcp[0]!, [lines.join('')])
}

/** Resolves with the connection, accepted from now on, whose text contains `marker`, once our FIN arrived on it. */
function whole(receiver: Receiver, marker: string, from = 0): Promise<Connection> {
  return new Promise((resolve) => {
    const check = (): void => {
      const found = receiver.connections.slice(from).find((c) => c.endedAt !== null && Buffer.concat(c.chunks).includes(marker))
      if (found !== undefined) resolve(found)
      else setTimeout(check, 50)
    }
    check()
  })
}

const timerLines = (text: string): string[] => text.split('\n').filter((l) => l.startsWith('stats.timers.big.t'))

t.test('a flush many times the socket buffers, read slowly: every line arrives, once, on one connection', async (t) => {
  // Pauses after every read: the server's side fills and waits for it again and again.
  const { receiver, port } = await Receiver.start(t, (conn) => {
    conn.socket.on('data', () => {
      conn.socket.pause()
      setTimeout(() => conn.socket.resume(), 2)
    })
  })
  const server = await startServer(t, port, {
    flushInterval: 1000,
    deleteTimers: true,
    backends: [{ type: 'graphite', host: '127.0.0.1', port, timeoutMs: 60_000 }],
  })
  await sendTimers(server)
  const conn = await withTimeout(whole(receiver, 'stats.timers.big.t0.'), 60_000, 'the flush of the timers')
  const lines = timerLines(Buffer.concat(conn.chunks).toString())
  const names = new Set(lines.map((l) => l.split(' ')[0]))
  t.ok(Buffer.concat(conn.chunks).length > 8 << 20, `${(Buffer.concat(conn.chunks).length / 1048576).toFixed(1)} MiB in one flush`)
  t.equal(lines.length, names.size, 'no line twice')
  t.equal(new Set(lines.map((l) => l.split(' ')[0]!.replace(/\.[a-z_0-9]+$/, ''))).size, TIMERS, 'every timer')
  // big.t1 had 1, 1.5 and 1.
  const t1 = new Map(lines.filter((l) => l.startsWith('stats.timers.big.t1.')).map((l) => [l.split(' ')[0], l.split(' ')[1]]))
  t.match(Object.fromEntries(t1), { 'stats.timers.big.t1.count': '3', 'stats.timers.big.t1.upper': '1.5', 'stats.timers.big.t1.lower': '1', 'stats.timers.big.t1.sum': '3.5' }, 'with its statistics')
  t.equal(await server.stop(), 0)
  const elsewhere = receiver.connections.filter((c) => c !== conn).flatMap((c) => timerLines(Buffer.concat(c.chunks).toString()))
  t.same(elsewhere, [], 'and on no other connection')
  t.match(server.logged('backend totals')[0], { failedAttempts: 0, flushesDropped: 0 })
})

t.test('a receiver that breaks the connection part-way: the retry writes exactly the lines the broken attempt had begun, then the rest', async (t) => {
  const broken: Buffer[] = []
  const { receiver, port } = await Receiver.start(t, (conn, r) => {
    // The first connection carrying the timers breaks after 2 MB.
    conn.socket.on('data', () => {
      if (broken.length > 0 || !Buffer.concat(conn.chunks).includes('stats.timers.big.t')) return
      if (conn.chunks.reduce((n, c) => n + c.length, 0) < 2 << 20) return
      broken.push(Buffer.concat(conn.chunks))
      conn.socket.resetAndDestroy()
      r.connections.splice(r.connections.indexOf(conn), 1)
    })
  })
  const server = await startServer(t, port, {
    flushInterval: 1000,
    deleteTimers: true,
    backends: [{ type: 'graphite', host: '127.0.0.1', port, timeoutMs: 30_000, retryInitialMs: 100 }],
  })
  await sendTimers(server)
  const retry = await withTimeout(whole(receiver, 'stats.timers.big.t0.'), 60_000, 'the retried flush')
  t.equal(broken.length, 1, 'the first attempt broke')
  const first = broken[0]!
  const resent = Buffer.concat(retry.chunks)
  // The broken attempt's bytes, up to its last whole line, are the retry's first bytes.
  const upToLine = first.subarray(0, first.lastIndexOf('\n') + 1)
  t.ok(upToLine.length > 1 << 20, `${(upToLine.length / 1048576).toFixed(1)} MiB reached the receiver before the break`)
  t.ok(resent.subarray(0, upToLine.length).equals(upToLine), 'the retry begins with the very same lines')
  const lines = timerLines(resent.toString())
  t.equal(lines.length, new Set(lines.map((l) => l.split(' ')[0])).size, 'no line twice in the retry')
  t.equal(new Set(lines.map((l) => l.split(' ')[0]!.replace(/\.[a-z_0-9]+$/, ''))).size, TIMERS, 'every timer')
  t.equal(await server.stop(), 0)
  const totals = server.logged('backend totals')[0] as { failedAttempts: number; retries: number; flushesDropped: number }
  t.ok(totals.failedAttempts >= 1 && totals.retries >= 1, `failed and retried: ${JSON.stringify(totals)}`)
  t.equal(totals.flushesDropped, 0)
})
