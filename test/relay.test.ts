import { writeFileSync } from 'node:fs'
import path from 'node:path'
import t from 'tap'
// proxy.js's own construction of its ring, as the reference.
// eslint-disable-next-line @typescript-eslint/no-require-imports
import HashRing = require('hashring')
import { loadConfig } from '../src/config/load'
import { Health } from '../src/core/server-control'
import { relayCommands } from '../src/relay/admin/console-commands'
import type { RelayControl } from '../src/relay/admin/relay-control'
import { HoldOutbox } from '../src/relay/hold-outbox'
import { LineBatch } from '../src/relay/line-batch'
import { lineKey } from '../src/relay/line-key'
import { ProxyRing } from '../src/relay/ring'

const key = (line: string): string => {
  // Inside a larger buffer, as lines sit in a datagram batch: nothing may be read past the line.
  const buf = Buffer.from(`x:1|c\n${line}\nz:2|c`)
  return lineKey(buf, 6, 6 + Buffer.byteLength(line))
}

t.test('routing key: the text before the first ":", as proxy.js takes it', async (t) => {
  t.equal(key('a.b.c:1|c'), 'a.b.c')
  t.equal(key('a:1|c:2|c'), 'a')
  t.equal(key('no colon at all'), 'no colon at all')
  t.equal(key(':1|c'), '')
  t.equal(key('héllo:1|c'), 'héllo')
  t.equal(key('tok.en.name:1|ms|@0.5|#a:b'), 'tok.en.name')
})

t.test('routing key: DogStatsD events by title, service checks by name', async (t) => {
  t.equal(key('_e{5,4}:title|text'), 'title')
  t.equal(key('_e{5,4}:title|text|#tag:x'), 'title')
  t.equal(key('_e{9,4}:short|text'), 'short|tex', 'a length past the title is the declared length')
  t.equal(key('_e{99,4}:short'), 'short', 'and never past the line')
  t.equal(key('_e{x,4}:title|text'), '_e{x,4}', 'a malformed header routes like a plain line')
  t.equal(key('_sc|db.check|0|#env:prod'), 'db.check')
  t.equal(key('_sc|alone'), 'alone')
  t.equal(key('_s:1|c'), '_s')
})

t.test('line batch: newline-terminated lines in datagrams of at most maxBytes', async (t) => {
  const out: [string, number][] = []
  const batch = new LineBatch(16, 40, (d, n) => out.push([d.toString(), n]))
  const add = (line: string): boolean => {
    const buf = Buffer.from(`#${line}#`)
    return batch.add(buf, 1, buf.length - 1)
  }
  t.ok(add('a:1|c'))
  t.ok(add('b:22|c'))
  t.same(out, [], 'nothing leaves before the datagram is full or flushed')
  t.ok(add('c:1|c'))
  t.same(out, [['a:1|c\nb:22|c\n', 2]], 'the line that does not fit starts the next datagram')
  t.ok(add('a-line-of-exactly-30-bytes:1|c'), 'a line longer than a datagram goes alone')
  t.same(out.slice(1), [['c:1|c\n', 1], ['a-line-of-exactly-30-bytes:1|c\n', 1]])
  t.notOk(add('x'.repeat(40)), 'one longer than maxLineBytes cannot be sent')
  t.equal(batch.pending, 0)
  t.ok(add('fifteen-bytes:1'), 'a line plus its newline filling the datagram exactly')
  batch.flush()
  batch.flush()
  t.same(out.slice(3), [['fifteen-bytes:1\n', 1]])
})

t.test('hold outbox: oldest first, bounded, dropping the oldest', async (t) => {
  let dropped = 0
  const box = new HoldOutbox(10, (lines) => (dropped += lines))
  box.push(Buffer.from('aaaa'), 2)
  box.push(Buffer.from('bbbb'), 1)
  t.equal(box.bytes, 8)
  box.push(Buffer.from('cccc'), 3)
  t.equal(dropped, 2)
  t.equal(box.lines, 4)
  t.equal(box.shift()!.datagram.toString(), 'bbbb')
  t.equal(box.shift()!.lines, 3)
  t.ok(box.empty)
  t.equal(box.shift(), undefined)
})

t.test('ring: the node proxy.js picks, with nodes out and back', async (t) => {
  const ids = ['10.0.0.1:8125', '10.0.0.2:8125', '10.0.0.3:8126']
  const ring = new ProxyRing(ids, 100)
  // proxy.js, verbatim: node_ring[host:port] = 100; new hashring(node_ring, 'md5', {...})
  const reference = new HashRing(Object.fromEntries(ids.map((id) => [id, 100])), 'md5', { 'max cache size': 10000, replicas: 0 })
  const names = Array.from({ length: 5000 }, (_, i) => `app.host${i % 37}.metric_${i}`)
  const picks = new Set<string>()
  for (const name of names) {
    t.equal(ring.get(name), reference.get(name))
    picks.add(ring.get(name)!)
  }
  t.equal(picks.size, 3, 'every node gets names')
  ring.remove(ids[1]!)
  reference.remove(ids[1]!)
  for (const name of names) if (ring.get(name) !== reference.get(name)) t.fail(name)
  t.same(ring.members, [ids[0], ids[2]])
  ring.add(ids[1]!)
  reference.add({ [ids[1]!]: 100 })
  const fresh = new ProxyRing(ids, 100)
  for (const name of names) if (ring.get(name) !== fresh.get(name)) t.fail(`${name} after the node came back`)
})

t.test('config: an Etsy proxy config runs a relay, every proxy.js key kept', async (t) => {
  const dir = t.testdir()
  const file = path.join(dir, 'proxyConfig.js')
  writeFileSync(
    file,
    `{
nodes: [
{host: '127.0.0.1', port: 8127, adminport: 8128},
{host: '127.0.0.1', port: 8129, adminport: 8130}
],
server: './servers/udp',
host:  '0.0.0.0',
address: '127.0.0.2', address_ipv6: false,
port: 8135,
udp_version:'udp4',
mgmt_port: 8136, mgmt_address: '127.0.0.3',
forkCount: 4,
checkInterval: 1000,
cacheSize: 500,
log: { backend: 'stdout', level: 'LOG_INFO' },
downPolicy: 'hold',
unknownKey: 1
}`,
  )
  const loaded = loadConfig(file)
  t.equal(loaded.format, 'etsy')
  t.same(loaded.config.listeners, [{ type: 'udp', address: '127.0.0.2', port: 8135 }])
  t.same(loaded.config.mgmt, { address: '127.0.0.3', port: 8136 })
  t.same(loaded.config.backends, [])
  t.match(loaded.config.relay, {
    nodes: [
      { host: '127.0.0.1', port: 8127, adminport: 8128 },
      { host: '127.0.0.1', port: 8129, adminport: 8130 },
    ],
    checkIntervalMs: 1000,
    cacheSize: 500,
    downPolicy: 'hold',
    healthCheck: 'mgmt',
    forward: 'udp',
    maxDatagramBytes: 1432,
  })
  const warnings = loaded.warnings.join('\n')
  t.match(warnings, /host: ignored, as proxy\.js ignores it/)
  t.match(warnings, /udp_version: ignored/)
  t.match(warnings, /forkCount: the relay runs as one process/)
  t.match(warnings, /unknownKey: unknown key; ignored/)

  writeFileSync(file, `{ nodes: [{host: 'h', port: 1}], server: './servers/tcp', socket: '/run/s.sock', socket_mod: '660' }`)
  t.same(loadConfig(file).config.listeners, [{ type: 'unix', path: '/run/s.sock', mode: '660', maxLineBytes: 65536, idleTimeoutMs: 60000 }])
  writeFileSync(file, `{ nodes: [{host: 'h', port: 1}] }`)
  t.same(loadConfig(file).config.listeners, [{ type: 'udp', address: '0.0.0.0', port: 8125 }], "proxy.js's defaults")
  t.same(loadConfig(file).config.mgmt, { address: '0.0.0.0', port: 8126 })
  writeFileSync(file, `{ nodes: [{host: 'h', port: 1}, {host: 'h', port: 1}] }`)
  t.throws(() => loadConfig(file), /nodes\[1\]: node h:1 is listed twice/)
  writeFileSync(file, `{ nodes: [], port: 1 }`)
  t.throws(() => loadConfig(file), /at least one node/)
  writeFileSync(file, `{ nodes: [{host: 'h', port: 1}], listeners: [] }`)
  t.throws(() => loadConfig(file), /mixes Etsy statsd settings/)
  writeFileSync(file, JSON.stringify({ relay: { nodes: [{ host: 'h', port: 1 }], downPolicy: 'keep' } }))
  t.throws(() => loadConfig(file), /relay\.downPolicy/)
  writeFileSync(file, JSON.stringify({ relay: { nodes: [{ host: 'h', port: 1 }], maxDatagramBytes: 70000 } }))
  t.throws(() => loadConfig(file), /relay\.maxDatagramBytes/)
})

t.test("console: proxy.js's commands and answers", async (t) => {
  const health = new Health()
  const control: RelayControl = {
    health,
    config: { flushInterval: 1, relay: { downPolicy: 'hold' } },
    startedAt: Date.now() - 5_000,
    ringMembers: () => ['127.0.0.1:1', '127.0.0.1:2'],
    snapshot: () => {
      throw new Error('not used')
    },
  }
  const run = relayCommands(control)
  t.equal(run('help').output, 'Commands: config, health, status, quit\n\n')
  t.equal(run('status').output, 'uptime: 5\nnodes: 127.0.0.1:1 127.0.0.1:2 \n')
  t.equal(run('health').output, 'health: up\n')
  t.equal(run('health DOWN').output, 'health: down\n')
  t.equal(run(' health ').output, 'health: down\n')
  t.equal(run('health up').output, 'health: up\n')
  t.equal(run('config').output, '\nflushInterval: 1\nrelay > downPolicy: hold\n')
  t.equal(run('stats').output, 'ERROR\n')
  t.same(run('quit'), { output: '', quit: true })
})

t.test("Etsy's own exampleProxyConfig.js loads as it ships", async (t) => {
  const loaded = loadConfig(require.resolve('statsd/exampleProxyConfig.js'))
  t.same(loaded.config.relay?.nodes.map((n) => `${n.host}:${n.port}/${n.adminport}`), ['127.0.0.1:8127/8128', '127.0.0.1:8129/8130', '127.0.0.1:8131/8132'])
  t.same(loaded.config.listeners, [{ type: 'udp', address: '0.0.0.0', port: 8125 }])
  t.equal(loaded.config.relay?.checkIntervalMs, 1000)
  t.equal(loaded.warnings.length, 2, 'host and udp_version, which proxy.js ignores too')
})
