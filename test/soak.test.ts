import dgram from 'node:dgram'
import { once } from 'node:events'
import { readFileSync, writeFileSync } from 'node:fs'
import net from 'node:net'
import path from 'node:path'
import t, { type Test } from 'tap'
import { attribute } from '../soak/attribution'
import { main } from '../soak/cli'
import { Ledger } from '../soak/ledger'
import { parseDuration } from '../soak/options'
import { KeyGroup } from '../soak/workload'
import { shortTempDir } from './helpers/net'
import { ServerProcess } from './helpers/server-process'

/** Runs the harness in-process; returns its exit status and everything it printed. */
async function soak(argv: string[]): Promise<{ code: number; text: string }> {
  let text = ''
  const code = await main(argv, { write: (s: string) => (text += s) })
  return { code, text }
}

async function freePort(): Promise<number> {
  const probe = net.createServer().listen(0, '127.0.0.1')
  await once(probe, 'listening')
  const port = (probe.address() as net.AddressInfo).port
  await new Promise((resolve) => probe.close(resolve))
  return port
}

/**
 * A UDP relay in front of the server that drops or doubles every Nth
 * datagram holding only counter lines: loss and duplication the server
 * cannot know about, which the harness must find and count exactly. (Only
 * counters, because a lost absolute-gauge line or a repeated set member
 * leaves no trace in what the server flushes.)
 */
async function udpRelay(t: Test, to: { host: string; port: number }, every: number, mode: 'drop' | 'double') {
  const socket = dgram.createSocket('udp4')
  const out = dgram.createSocket('udp4')
  let seen = 0
  let altered = 0
  socket.on('message', (msg) => {
    const counters = msg.toString().split('\n').every((line) => /\|c(\||$)/.test(line))
    if (counters && ++seen % every === 0) {
      altered++
      if (mode === 'drop') return
      out.send(msg, to.port, to.host)
    }
    out.send(msg, to.port, to.host)
  })
  socket.bind(0, '127.0.0.1')
  await once(socket, 'listening')
  t.teardown(() => {
    socket.close()
    out.close()
  })
  return { port: socket.address().port, altered: () => altered }
}

t.test('durations', async (t) => {
  t.equal(parseDuration('30m', 'x'), 1_800_000)
  t.equal(parseDuration('20s', 'x'), 20_000)
  t.equal(parseDuration('1.5h', 'x'), 5_400_000)
  t.equal(parseDuration('15', 'x'), 15_000)
  t.throws(() => parseDuration('soon', '--duration'), /--duration/)
})

t.test('bad options exit 2 with the reason', async (t) => {
  t.equal((await soak(['--rate', '-5'])).code, 2)
  t.equal((await soak(['--target', 'udp=127.0.0.1:8125'])).code, 2, '--target without --graphite-port')
  t.equal((await soak(['--transports', 'carrier-pigeon'])).code, 2)
})

t.test('lines are statsgod-style with --auth-token: the token is the first dot-separated segment', async (t) => {
  const { text } = new KeyGroup('p1', 'tcp', 24, 1, 'tok123').lines(24)
  t.ok(text.every((line) => line.startsWith('tok123.soak.p1.tcp.')), text[0])
  t.match(text, ['tok123.soak.p1.tcp.c.k0:1|c', 'tok123.soak.p1.tcp.cr.k1:2|c|@0.5'])
  t.ok(text.some((line) => line.endsWith('|#soak:1,tr:tcp')) && text.some((line) => line.includes(';soak=1:')), 'both tag styles')
})

t.test('the ledger counts lost, re-sent and wrong values exactly', async (t) => {
  const group = new KeyGroup('p1', 'udp', 8, 1, undefined)
  const ledger = new Ledger()
  ledger.add(group)
  // Two lines per key: c (1|c), cr (2|c|@0.5), g, gp, gn, ms, msr (|@0.5), s.
  group.lines(16).commit()
  const lines = [
    'stats_counts.soak.p1.udp.c.k0 2 100',
    'stats_counts.soak.p1.udp.cr.k1 4 100', // 2/0.5 per line: one of the two lines is missing
    'stats.gauges.soak.p1.udp.g.k2 2 100',
    'stats.gauges.soak.p1.udp.gp.k3 2 100',
    'stats.gauges.soak.p1.udp.gn.k4 -2 100',
    'stats.timers.soak.p1.udp.ms.k5.count 2 100',
    `stats.timers.soak.p1.udp.ms.k5.sum ${group.valueSum[5]} 100`,
    `stats.timers.soak.p1.udp.ms.k5.lower ${group.minValue[5]} 100`,
    `stats.timers.soak.p1.udp.ms.k5.upper ${group.maxValue[5]} 100`,
    'stats.timers.soak.p1.udp.msr.k6.count 4 100',
    `stats.timers.soak.p1.udp.msr.k6.sum ${group.valueSum[6]} 100`,
    `stats.timers.soak.p1.udp.msr.k6.lower ${group.minValue[6]} 100`,
    `stats.timers.soak.p1.udp.msr.k6.upper ${group.maxValue[6]} 100`,
    'stats.sets.soak.p1.udp.s.k7.count 2 100',
    'stats.sets.soak.p1.udp.s.k7.count 2 100', // the same flush re-sent: not counted twice
  ]
  const feed = (text: string[]) => {
    for (const line of text) {
      const [name, value, ts] = line.split(' ')
      ledger.line(name!, value!, Number(ts))
    }
  }
  feed(lines)
  t.match(ledger.resultOf(group), { sent: 16, received: 15, lost: 1, extra: 0, wrong: 0 })
  t.equal(ledger.duplicates, 1)
  t.equal(ledger.wrongValues.udp, 0)

  feed(['stats_counts.soak.p1.udp.c.k0 0.5 102', 'stats_counts.soak.p1.udp.c.k99 1 102', 'stats_counts.soak.p1.udp.cr.k1;x=y 4 102'])
  t.equal(ledger.wrongValues.udp, 1, 'half a line is a wrong value')
  t.equal(ledger.unknownNames, 2, 'a key never sent, and one with tags it was not sent with')
  t.match(ledger.resultOf(group), { lost: 1, wrong: 1 })
})

t.test('losses are reported when the server names them, silent otherwise', async (t) => {
  const results = [
    { transport: 'udp' as const, phase: 'p', sent: 100, received: 80, lost: 20, extra: 0, wrong: 0 },
    { transport: 'tcp' as const, phase: 'p', sent: 100, received: 95, lost: 5, extra: 0, wrong: 0 },
  ]
  const wrong = { udp: 0, tcp: 0, 'tcp-short': 0, unix: 0 }
  const rows = attribute(results, wrong, { drops: new Map([['queue.dropped_packets', 6]]), badLinesBeyondMalformed: 0, kernelDrops: 4 }, 2)
  t.match(rows[0], { transport: 'udp', lost: 20, reported: 12, silent: 8, kernelSeen: 8 })
  t.match(rows[1], { transport: 'tcp', lost: 5, reported: 0, silent: 5 })
  const udpOnly = attribute(results, wrong, { drops: new Map([['udp.127_0_0_1_8125.kernel_drops', 30]]), badLinesBeyondMalformed: 0, kernelDrops: null }, 1)
  t.match(udpOnly[1], { transport: 'tcp', reported: 0, silent: 5 }, 'a UDP figure does not cover TCP losses')
  const both = attribute(results, wrong, {
    drops: new Map([['udp.x.kernel_drops', 15], ['queue.dropped_packets', 4], ['queue.dropped_bytes', 999]]),
    badLinesBeyondMalformed: 3,
    kernelDrops: null,
  }, 1)
  t.match(both[0], { transport: 'udp', reported: 20, silent: 0 }, 'the UDP figure first, then the general ones')
  t.match(both[1], { transport: 'tcp', reported: 2, silent: 3 }, 'what is left of the general ones covers TCP; bytes count for nothing')
})

t.test('a short soak of the real server over every transport passes and writes the report', async (t) => {
  const report = path.join(shortTempDir(t), 'report.html')
  const { code, text } = await soak(['--duration', '4s', '--rate', '2000', '--keys', '800', '--lines-per-packet', '1,10', '--report', report])
  if (!t.equal(code, 0, 'exit status 0')) t.comment(text)
  t.match(text, /PASS/)
  for (const transport of ['udp', 'tcp', 'tcp-short', 'unix']) t.match(text, new RegExp(`^${transport} +\\d+ +\\d+ +0 +0 +0`, 'm'))
  const html = readFileSync(report, 'utf8')
  t.equal(html.match(/<svg /g)?.length, 5, 'five charts')
  t.notMatch(html, /<script|https?:\/\/(?!www\.w3\.org)/, 'self-contained')
})

t.test('an Etsy config.js is used as it is, with the harness listening on its graphitePort', async (t) => {
  const dir = shortTempDir(t)
  const graphitePort = await freePort()
  const config = path.join(dir, 'config.js')
  writeFileSync(config, `{
    graphiteHost: "127.0.0.1", graphitePort: ${graphitePort}, flushInterval: 2000,
    servers: [{ server: "./servers/udp", address: "127.0.0.1", port: 0 }, { server: "./servers/tcp", address: "127.0.0.1", port: 0 }],
    backends: ["./backends/graphite"]
  }`)
  const { code, text } = await soak(['--config', config, '--graphite-port', String(graphitePort), '--flush-interval', '2s',
    '--duration', '3s', '--rate', '1000', '--keys', '200', '--report', path.join(dir, 'r.html')])
  if (!t.equal(code, 0, 'exit status 0')) t.comment(text)
  t.match(text, /^udp .*\n^tcp .*\n^tcp-short /m, 'UDP and both TCP patterns, no Unix socket')
})

t.test('--chaos: Graphite outages and malformed lines lose nothing good, and every bad line is counted', async (t) => {
  const report = path.join(shortTempDir(t), 'report.html')
  const { code, text } = await soak(['--chaos', '--chaos-every', '2s', '--duration', '6s', '--rate', '1000', '--keys', '400', '--report', report])
  if (!t.equal(code, 0, 'exit status 0')) t.comment(text)
  const restarts = /(\d+) receiver restarts/.exec(text)
  t.ok(Number(restarts?.[1]) >= 1, 'the receiver went away at least once')
  const bad = /bad_lines_seen (\d+) \(malformed lines sent on purpose: (\d+)\)/.exec(text)
  t.ok(Number(bad?.[2]) > 0, 'malformed lines were sent')
  t.equal(bad?.[1], bad?.[2], 'each counted as a bad line')
})

for (const mode of ['drop', 'double'] as const) {
  t.test(`datagrams a relay ${mode === 'drop' ? 'drops' : 'doubles'} behind the server's back are found and fail the run`, async (t) => {
    const dir = shortTempDir(t)
    const graphitePort = await freePort()
    const server = await ServerProcess.start(dir, {
      listeners: [{ type: 'udp', address: '127.0.0.1', port: 0 }],
      backends: [{ type: 'graphite', host: '127.0.0.1', port: graphitePort }],
      flushInterval: 2000,
    })
    t.teardown(() => server.stop())
    const relay = await udpRelay(t, server.endpoints.udp[0]!, 10, mode)
    const { code, text } = await soak([
      '--target', `udp=127.0.0.1:${relay.port}`, '--graphite-port', String(graphitePort), '--flush-interval', '2s',
      '--duration', '3s', '--rate', '1000', '--keys', '200', '--lines-per-packet', '2', '--report', path.join(dir, 'r.html'),
    ])
    if (!t.equal(code, 1, 'exit status 1')) t.comment(text)
    t.ok(relay.altered() > 0)
    const udp = new RegExp(`^udp +\\d+ +\\d+ +(\\d+) +0 +(\\d+) +\\d+ +(\\d+)`, 'm').exec(text)
    if (!t.ok(udp, 'a udp row')) t.comment(text)
    if (mode === 'drop') {
      t.equal(Number(udp![2]), relay.altered() * 2, 'every dropped line counted as silent loss')
      t.match(text, /lost silently/)
    } else {
      t.equal(Number(udp![3]), relay.altered() * 2, 'every doubled line counted as extra')
      t.match(text, /never sent/)
    }
  })
}
