import { once } from 'node:events'
import net from 'node:net'
import path from 'node:path'
import t, { type Test } from 'tap'
// eslint-disable-next-line @typescript-eslint/no-require-imports
import HashRing = require('hashring')
import { consoleSession, eventually, httpGet } from './helpers/admin-clients'
import { sendStream, sendUdp, shortTempDir, withTimeout } from './helpers/net'
import { SinkNode, untilLines } from './helpers/relay-nodes'
import { ServerProcess } from './helpers/server-process'
import { sendUnixgram } from './helpers/unixgram'

/* The real relay process on loopback, in front of stand-in nodes that record what reaches them. */

/** proxy.js's ring over these nodes. */
function referenceRing(nodes: readonly SinkNode[]): HashRing {
  return new HashRing(Object.fromEntries(nodes.map((n) => [n.id, 100])), 'md5', { 'max cache size': 10000, replicas: 0 })
}

async function startFleet(t: Test, relay: object, listeners?: object[]): Promise<{ nodes: SinkNode[]; server: ServerProcess }> {
  const nodes = await Promise.all([SinkNode.start(), SinkNode.start(), SinkNode.start()])
  t.teardown(() => Promise.all(nodes.map((n) => n.close())))
  const server = await ServerProcess.start(t.testdir(), {
    listeners: listeners ?? [{ type: 'udp', port: 0 }],
    relay: { nodes: nodes.map((n) => ({ host: '127.0.0.1', port: n.port, adminport: n.adminport })), checkIntervalMs: 1000, ...relay },
  })
  t.teardown(() => server.stop())
  return { nodes, server }
}

interface NodeInfo {
  id: string
  up: boolean
  forwarded: number
  rehashed: number
  held: number
  replayed: number
  dropped: number
  heldLines: number
}

async function nodeInfo(server: ServerProcess): Promise<NodeInfo[]> {
  return (JSON.parse((await httpGet(server.endpoints.http!, '/info')).body) as { nodes: NodeInfo[] }).nodes
}

async function untilNode(server: ServerProcess, id: string, up: boolean): Promise<void> {
  await eventually(async () => ((await nodeInfo(server)).find((n) => n.id === id)!.up === up ? true : undefined), `node ${id} ${up ? 'up' : 'down'}`)
}

/** `count` lines of distinct names, packed `perDatagram` to a datagram. */
function packets(prefix: string, count: number, perDatagram: number): string[] {
  const out: string[] = []
  for (let i = 0; i < count; i += perDatagram) {
    const lines: string[] = []
    for (let j = i; j < Math.min(count, i + perDatagram); j++) lines.push(`${prefix}.name_${j}:${j}|c`)
    out.push(lines.join('\n'))
  }
  return out
}

function linesOf(payloads: string[]): string[] {
  return payloads.flatMap((p) => p.split('\n'))
}

t.test('every line reaches the node proxy.js would pick, batched into datagrams of at most 1432 bytes, from every listener type', async (t) => {
  const dir = shortTempDir(t)
  // Checks time out after checkIntervalMs: a busy machine must not take nodes down here.
  const { nodes, server } = await startFleet(t, { checkIntervalMs: 5_000 }, [
    { type: 'udp', port: 0 },
    { type: 'tcp', port: 0 },
    { type: 'unix', path: path.join(dir, 'relay.sock') },
    { type: 'unixgram', path: path.join(dir, 'relay.dgram') },
  ])
  const udp = packets('udp', 3000, 25)
  const tcp = packets('tcp', 2000, 100)
  const unix = packets('unix', 1000, 100)
  const unixgram = packets('unixgram', 500, 10)
  const events = ['_e{5,4}:title|text', '_sc|db.check|0']
  for (const batch of [udp.slice(0, 40), udp.slice(40, 80), udp.slice(80)]) await sendUdp(server.endpoints.udp[0]!, batch)
  await sendStream(server.endpoints.tcp[0]!, tcp.map((p) => p + '\n'))
  await sendStream(server.endpoints.unix[0]!, [...unix.map((p) => p + '\n'), ...events.map((e) => e + '\n')])
  await sendUnixgram(path.join(dir, 'relay.dgram'), unixgram)
  const sent = [...linesOf(udp), ...linesOf(tcp), ...linesOf(unix), ...events, ...linesOf(unixgram)]
  await untilLines(nodes, sent.length).catch(async (err: Error) => {
    const got = nodes.flatMap((n) => n.lines)
    console.error((await httpGet(server.endpoints.http!, '/info')).body)
    throw new Error(`${err.message}: ${['udp', 'tcp', 'unix.', 'unixgram', '_'].map((p) => `${p} ${got.filter((l) => l.startsWith(p)).length}`).join(', ')}`)
  })

  const ring = referenceRing(nodes)
  const where = new Map<string, string>()
  for (const node of nodes) for (const line of node.lines) {
    t.notOk(where.has(line), `${line} arrived once`)
    where.set(line, node.id)
  }
  let misrouted = 0
  for (const line of sent) {
    const expected = line.startsWith('_e{') ? ring.get('title') : line.startsWith('_sc|') ? ring.get('db.check') : ring.get(line.slice(0, line.indexOf(':')))
    if (where.get(line) !== expected) misrouted++
  }
  t.equal(misrouted, 0, 'no line reached another node than its own')
  const datagrams = nodes.flatMap((n) => n.datagrams)
  t.ok(datagrams.every((d) => d.length <= 1432), 'no datagram over 1432 bytes')
  t.ok(datagrams.length * 10 < sent.length, `${sent.length} lines in ${datagrams.length} datagrams`)
  t.ok(nodes.every((n) => n.lines.length > sent.length / 6), 'each node got its share')

  const info = await nodeInfo(server)
  t.same(info.map((n) => n.forwarded), nodes.map((n) => n.lines.length), 'forwarded counts what each node got')
  const metrics = (await httpGet(server.endpoints.http!, '/metrics')).body
  t.match(metrics, new RegExp(`statsd_relay_lines_total\\{node="${nodes[0]!.id}",outcome="forwarded"\\} ${nodes[0]!.lines.length}\\n`))
  t.match(metrics, new RegExp(`statsd_relay_lines_received_total ${sent.length}\\n`))
  const page = (await httpGet(server.endpoints.http!, '/')).body
  t.match(page, nodes[2]!.id)

  const status = await consoleSession(server.endpoints.mgmt!, ['help', 'status', 'health', 'quit'])
  t.match(status, /^Commands: config, health, status, quit\n\nuptime: \d+\nnodes: (127\.0\.0\.1:\d+ ){3}\nhealth: up\n$/)
})

for (const forward of ['udp', 'tcp'] as const) {
  t.test(`policy rehash (${forward}): a node that fails its check leaves the ring, its names go where proxy.js sends them, and come back`, async (t) => {
    const { nodes, server } = await startFleet(t, { downPolicy: 'rehash', forward })
    const [a, b, c] = nodes as [SinkNode, SinkNode, SinkNode]
    b.health = 'down'
    await untilNode(server, b.id, false)
    const round1 = packets('r1', 1000, 20)
    await sendUdp(server.endpoints.udp[0]!, round1)
    await untilLines(nodes, 1000)
    t.equal(b.lines.length, 0, 'nothing reached the down node')
    const full = referenceRing(nodes)
    const live = referenceRing([a, c])
    const homeB = linesOf(round1).filter((l) => full.get(l.slice(0, l.indexOf(':'))) === b.id)
    t.ok(homeB.length > 100)
    for (const line of homeB) if (!(live.get(line.slice(0, line.indexOf(':'))) === a.id ? a : c).lines.includes(line)) t.fail(`${line} re-hashed`)
    let info = await nodeInfo(server)
    t.equal(info[1]!.rehashed, homeB.length, 'every re-hashed line counted under its home node')
    t.equal(info[0]!.forwarded + info[2]!.forwarded + info[1]!.rehashed, 1000)

    b.health = 'up'
    await untilNode(server, b.id, true)
    await sendUdp(server.endpoints.udp[0]!, packets('r1', 1000, 20))
    await untilLines(nodes, 2000)
    t.equal(b.lines.length, homeB.length, 'back in the ring: its names are its own again')
    info = await nodeInfo(server)
    t.equal(info[1]!.forwarded, homeB.length)
    t.equal(info[1]!.dropped + info[0]!.dropped + info[2]!.dropped, 0)
  })
}

t.test('policy hold: a down node gets its lines late, in order, and none elsewhere', async (t) => {
  const { nodes, server } = await startFleet(t, { downPolicy: 'hold' })
  const [a, b, c] = nodes as [SinkNode, SinkNode, SinkNode]
  b.health = 'down'
  await untilNode(server, b.id, false)
  const round = packets('h', 3000, 20)
  await sendUdp(server.endpoints.udp[0]!, round)
  const full = referenceRing(nodes)
  const homeB = linesOf(round).filter((l) => full.get(l.slice(0, l.indexOf(':'))) === b.id)
  await untilLines([a, c], 3000 - homeB.length)
  let info = await nodeInfo(server)
  t.equal(info[1]!.held, homeB.length, 'held, counted')
  t.equal(info[1]!.heldLines, homeB.length, 'and still holding')
  t.equal(b.lines.length, 0)
  b.health = 'up'
  await untilLines([b], homeB.length)
  t.same(b.lines, homeB, 'replayed in the order they came')
  info = await nodeInfo(server)
  t.equal(info[1]!.replayed, homeB.length)
  t.equal(info[1]!.heldLines, 0)
  t.equal(info[0]!.rehashed + info[1]!.rehashed + info[2]!.rehashed, 0)
})

t.test('a node whose UDP port is closed is down at its first refused send, not at its next check', async (t) => {
  const { nodes, server } = await startFleet(t, { checkIntervalMs: 600_000 })
  const [a, b, c] = nodes as [SinkNode, SinkNode, SinkNode]
  await b.closeUdp()
  const round = packets('icmp', 3000, 20)
  // Datagrams sent before the kernel's "port unreachable" arrives are lost, as UDP loses them.
  for (let i = 0; i < round.length && (await nodeInfo(server))[1]!.up; i++) await sendUdp(server.endpoints.udp[0]!, [round[i]!])
  await untilNode(server, b.id, false)
  const info = await nodeInfo(server)
  t.match((info[1] as NodeInfo & { reason: string }).reason, /ECONNREFUSED/)
  const before = a.lines.length + c.lines.length
  await sendUdp(server.endpoints.udp[0]!, packets('after', 1000, 20))
  await untilLines([a, c], before + 1000)
  t.pass('its lines went to the other nodes')
})

t.test('a node that cannot be reached over TCP is down at once, and back once it listens', async (t) => {
  const nodes = await Promise.all([SinkNode.start(), SinkNode.start()])
  t.teardown(() => Promise.all(nodes.map((n) => n.close())))
  // No adminport: only the transport says whether the node is there.
  const server = await ServerProcess.start(t.testdir(), {
    listeners: [{ type: 'udp', port: 0 }],
    relay: { nodes: [...nodes.map((n) => ({ host: '127.0.0.1', port: n.port })), { host: '127.0.0.1', port: 1 }], forward: 'tcp', checkIntervalMs: 100 },
  })
  t.teardown(() => server.stop())
  const info = await nodeInfo(server)
  t.same(info.map((n) => n.up), [true, true, false])
  t.match(server.logged('statsd server is up')[0], { nodes: [{ up: true }, { up: true }, { node: '127.0.0.1:1', up: false, reason: /ECONNREFUSED/ }] })
  await sendUdp(server.endpoints.udp[0]!, packets('t', 500, 50))
  await untilLines(nodes, 500)
  t.pass('every line reached a node that is up')
})

t.test('forwarding over TCP: a node that stops reading slows the TCP client down, and nothing is lost', async (t) => {
  const node = await SinkNode.start()
  t.teardown(() => node.close())
  const server = await ServerProcess.start(t.testdir(), {
    listeners: [{ type: 'tcp', port: 0 }],
    queue: { maxBytes: 1024 * 1024, maxPackets: 10_000 },
    relay: { nodes: [{ host: '127.0.0.1', port: node.port }], forward: 'tcp', tcpHighWaterBytes: 64 * 1024 },
  })
  t.teardown(() => server.stop())
  node.pauseTcp()
  const line = (i: number): string => `backpressure.${'x'.repeat(150)}.n${i}:1|c\n`
  const chunk = (from: number): string => Array.from({ length: 400 }, (_, i) => line(from + i)).join('')
  const client = net.createConnection(server.endpoints.tcp[0]!.port, '127.0.0.1')
  await once(client, 'connect')
  // Write until the client's own buffer holds 1 MB it cannot hand on: every buffer on the way is full.
  let sent = 0
  const stalled = (async (): Promise<boolean> => {
    for (;;) {
      client.write(chunk(sent))
      sent += 400
      if (client.writableLength > 1024 * 1024) return true
      if (sent > 2_000_000) return false
      await new Promise((resolve) => setImmediate(resolve))
    }
  })()
  t.ok(await withTimeout(stalled, 60_000, 'the client stalls'), `the client was held back after ${sent} lines`)
  const got = node.lines.length
  t.ok(got < sent, `the node had ${got} of ${sent} lines while it did not read`)
  node.resumeTcp()
  client.end()
  await untilLines([node], sent, 60_000)
  t.equal(node.lines.length, sent, 'every line arrived once the node read again')
  t.equal(new Set(node.lines).size, sent, 'none twice')
})

t.test("the relay's admin writes (health up|down) need the admin token off loopback, as the server's do", async (t) => {
  const TOKEN = 'relay-admin-token-0123456789'
  // Bound to every interface (the case that needs a token); the clients connect over loopback only.
  const guarded = await ServerProcess.start(t.testdir(), {
    listeners: [{ type: 'udp', port: 0 }],
    admin: { address: '0.0.0.0', port: 0 },
    mgmt: { address: '0.0.0.0', port: 0 },
    adminAuth: { token: TOKEN },
    relay: { nodes: [{ host: '127.0.0.1', port: 9 }] },
  })
  t.teardown(() => guarded.stop())
  const http = { host: '127.0.0.1', port: guarded.endpoints.http!.port }
  const mgmt = { host: '127.0.0.1', port: guarded.endpoints.mgmt!.port }
  const post = (path: string, token?: string): Promise<number> =>
    new Promise((resolve, reject) => {
      const req = net.createConnection(http.port, http.host, () => {
        req.end(`POST ${path} HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n${token === undefined ? '' : `Authorization: Bearer ${token}\r\n`}\r\n`)
      })
      let text = ''
      req.setEncoding('latin1').on('data', (d: string) => (text += d)).on('end', () => resolve(Number(text.split(' ')[1]))).on('error', reject)
    })
  t.equal(await post('/health/down'), 401, 'POST /health/down without the token: refused')
  t.equal((await httpGet(http, '/healthz')).status, 200, 'still up; reads stay open')
  t.match(await consoleSession(mgmt, ['health down', 'quit']), /^ERROR: this command needs the admin token/, 'console health down without auth: refused')
  t.match(await consoleSession(mgmt, [`auth ${TOKEN}`, 'health down', 'quit']), /^auth: ok\nhealth: down\n$/, 'with auth TOKEN: done')
  t.equal(await post('/health/up', TOKEN), 200, 'POST /health/up with the bearer token: done')
  t.notOk(JSON.stringify(guarded.logs).includes(TOKEN), 'the token is never logged')
})
