import net from 'node:net'
import path from 'node:path'
import t from 'tap'
import { startFakeGraphite } from './helpers/fake-graphite'
import { graphiteValues } from './helpers/graphite-lines'
import { seededRandom } from './helpers/random'
import { sendStream, sendUdp, shortTempDir } from './helpers/net'
import { ServerProcess } from './helpers/server-process'

/*
 * Random bytes and malformed lines at every listener of the real server:
 * it must keep running, count the bad lines, and still count every good
 * line that travelled in the same packets.
 */

const MALFORMED = [
  ':', '::::', 'a:', 'a:1', 'a:1|', 'a:1|x', 'a:x|c', 'a:1|c|@', 'a:1|c|@0', 'a:1|c|@2', 'a:1|c|0.5', 'a:-1|ms',
  'a:1|c|@-1', 'a:0x10|c', 'a:Infinity|g', 'a:NaN|ms', '|#', 'a:1|c|#', '\u0000\u0001\u0002', '\ud800', 'no colon at all',
  ':1|c', '!!!:1|c', 'a:1|ms|@+0.5|#x:y|#z', 'a:1e999|c',
]

/** Garbage with the protocol's own punctuation mixed in, so that it reaches deep into the parser. */
function garbage(random: () => number, maxBytes: number): Buffer {
  const bytes = Buffer.alloc(Math.floor(random() * maxBytes))
  const alphabet = Buffer.from(':|@#\n\r.-+eE0123456789cmsgh;=, \t')
  for (let i = 0; i < bytes.length; i++) {
    bytes[i] = random() < 0.4 ? alphabet[Math.floor(random() * alphabet.length)]! : Math.floor(random() * 256)
  }
  return bytes
}

/** A packet of garbage and malformed lines with `good` on lines of its own; returns how many good lines it holds. */
function noisyPacket(random: () => number, good: string, maxGarbage: number): { packet: Buffer; goodLines: number } {
  const parts: Buffer[] = []
  let goodLines = 0
  for (let i = 0; i < 6; i++) {
    parts.push(random() < 0.5 ? garbage(random, maxGarbage) : Buffer.from(MALFORMED[Math.floor(random() * MALFORMED.length)]!))
    if (random() < 0.5) {
      parts.push(Buffer.from(`\n${good}\n`))
      goodLines++
    } else {
      parts.push(Buffer.from('\n'))
    }
  }
  return { packet: Buffer.concat(parts), goodLines }
}

t.test('garbage at every listener: the server survives and good lines still count', async (t) => {
  const { graphite, port } = await startFakeGraphite(t)
  const dir = shortTempDir(t)
  const server = await ServerProcess.start(t.testdir(), {
    listeners: [
      { type: 'udp', address: '127.0.0.1', port: 0, recvBufferSize: 4 * 1024 * 1024 },
      { type: 'tcp', address: '127.0.0.1', port: 0, maxLineBytes: 4096 },
      { type: 'unix', path: path.join(dir, 's.sock'), maxLineBytes: 4096 },
    ],
    backends: [{ type: 'graphite', host: '127.0.0.1', port }],
    flushInterval: 60_000,
  })
  t.teardown(() => server.kill())
  const { udp, tcp, unix } = server.endpoints
  const random = seededRandom(1234)

  // UDP: small enough in total to fit the socket buffer even before the server reads it.
  let udpGood = 0
  const datagrams: Buffer[] = []
  for (let i = 0; i < 40; i++) {
    const { packet, goodLines } = noisyPacket(random, 'fuzz.udp:1|c', 80)
    datagrams.push(packet)
    udpGood += goodLines
  }
  const big = Buffer.concat([garbage(random, 30_000), Buffer.from('\nfuzz.udp:1|c\n'), garbage(random, 2_000)])
  datagrams.push(big, Buffer.alloc(0), Buffer.from([0xff, 0xfe, 0x00]))
  udpGood += 1

  // Streams: the same noise cut at random points, an over-long line, a client that resets.
  const streamChunks = (good: string): { chunks: Buffer[]; goodLines: number } => {
    const packets: Buffer[] = []
    let goodLines = 0
    for (let i = 0; i < 200; i++) {
      const p = noisyPacket(random, good, 300)
      packets.push(p.packet)
      goodLines += p.goodLines
    }
    packets.push(Buffer.alloc(10_000, 0x61), Buffer.from(`\n${good}\n`))
    goodLines += 1
    const all = Buffer.concat(packets)
    const chunks: Buffer[] = []
    for (let at = 0; at < all.length; ) {
      const size = 1 + Math.floor(random() * 3000)
      chunks.push(all.subarray(at, at + size))
      at += size
    }
    return { chunks, goodLines }
  }
  const tcpTraffic = streamChunks('fuzz.tcp:1|c')
  const unixTraffic = streamChunks('fuzz.unix:1|c')

  // A client that connects, sends half a line and resets, and one that stays idle.
  const resetter = net.createConnection(tcp[0]!.port, tcp[0]!.host)
  resetter.on('error', () => {})
  resetter.write('fuzz.reset:1')
  resetter.once('connect', () => resetter.resetAndDestroy())
  const idle = net.createConnection(unix[0]!)
  idle.on('error', () => {})

  await Promise.all([
    sendUdp(udp[0]!, datagrams),
    sendStream(tcp[0]!, tcpTraffic.chunks),
    sendStream(unix[0]!, unixTraffic.chunks),
  ])

  t.equal(await server.stop(), 0, 'still alive and exits cleanly')
  idle.destroy()
  t.equal(graphite.flushes.length, 1)
  const out = graphiteValues(graphite.flushes[0]!)
  t.equal(out.get('stats_counts.fuzz.udp'), String(udpGood), 'every good UDP line counted')
  t.equal(out.get('stats_counts.fuzz.tcp'), String(tcpTraffic.goodLines), 'every good TCP line counted')
  t.equal(out.get('stats_counts.fuzz.unix'), String(unixTraffic.goodLines), 'every good Unix socket line counted')
  t.ok(Number(out.get('stats_counts.statsd.bad_lines_seen')) > 100, 'bad lines counted')
  t.ok(server.logged('bad line dropped').length > 0, 'bad lines logged')
  t.ok(server.logs.every((entry) => entry.level !== 60 && !/uncaught/.test(String(entry.msg))), 'nothing fatal logged')
})
