import t from 'tap'
// eslint-disable-next-line @typescript-eslint/no-require-imports
import HashRing = require('hashring')
import { relaySchema } from '../src/config/relay-schema'
import { silentLogger } from '../src/log'
import type { Forwarder } from '../src/relay/forwarder'
import { RelayNode } from '../src/relay/relay-node'
import { Router } from '../src/relay/router'

/* The router's decisions and counts, with forwarders that record what they are given. */

class RecordingForwarder implements Forwarder {
  readonly description = 'fake'
  ready = true
  congested = false
  readonly sent: string[] = []
  async open(): Promise<void> {}
  send(datagram: Buffer): void {
    this.sent.push(...datagram.toString().split('\n').filter((l) => l !== ''))
  }
  async close(): Promise<void> {}
}

function setup(downPolicy: 'rehash' | 'hold', holdMaxBytes = 1 << 20): { router: Router; nodes: RelayNode[]; fwd: RecordingForwarder[] } {
  const config = relaySchema.parse({
    nodes: [1, 2, 3].map((i) => ({ host: '10.0.0.1', port: 8000 + i })),
    downPolicy,
    holdMaxBytes,
    maxDatagramBytes: 200,
  })
  const events = { onLost() {}, onFailure() {}, onDrain() {} }
  const fwd = config.nodes.map(() => new RecordingForwarder())
  const nodes = config.nodes.map((n, i) => Object.assign(new RelayNode(n, config, events), { forwarder: fwd[i]! }))
  return { router: new Router(nodes, config, silentLogger()), nodes, fwd }
}

const ring = new HashRing({ '10.0.0.1:8001': 100, '10.0.0.1:8002': 100, '10.0.0.1:8003': 100 }, 'md5', { replicas: 0 })
const lines = Array.from({ length: 600 }, (_, i) => `app.m${i}:${i}|c`)
const homeIndex = (line: string): number => Number(ring.get(line.slice(0, line.indexOf(':')))!.slice(-1)) - 1

function routeAll(router: Router, which: string[]): void {
  const buf = Buffer.from(which.join('\n'))
  let start = 0
  for (const line of which) {
    router.route(buf, start, start + line.length)
    start += line.length + 1
  }
  router.flush()
}

const waitForReplay = (): Promise<void> => new Promise((resolve) => setTimeout(resolve, 50))

t.test('every node up: each line to its home, counted forwarded', async (t) => {
  const { router, nodes, fwd } = setup('rehash')
  routeAll(router, lines)
  for (const [i, f] of fwd.entries()) {
    t.same(f.sent, lines.filter((l) => homeIndex(l) === i))
    t.equal(nodes[i]!.counters.forwarded, f.sent.length)
  }
})

t.test('rehash: a down node\'s lines go where proxy.js sends them, counted under it', async (t) => {
  const { router, nodes, fwd } = setup('rehash')
  router.setHealthy(nodes[1]!, false, 'test')
  t.same(router.liveMembers, ['10.0.0.1:8001', '10.0.0.1:8003'])
  routeAll(router, lines)
  const live = new HashRing({ '10.0.0.1:8001': 100, '10.0.0.1:8003': 100 }, 'md5', { replicas: 0 })
  const homeB = lines.filter((l) => homeIndex(l) === 1)
  t.same(fwd[1]!.sent, [])
  t.equal(nodes[1]!.counters.rehashed, homeB.length)
  for (const line of homeB) t.ok(fwd[live.get(line.slice(0, line.indexOf(':')))!.endsWith('1') ? 0 : 2]!.sent.includes(line))
  t.equal(nodes[0]!.counters.forwarded + nodes[2]!.counters.forwarded + nodes[1]!.counters.rehashed, lines.length)

  for (const node of nodes) router.setHealthy(node, false, 'test')
  routeAll(router, lines.slice(0, 10))
  t.equal(nodes.reduce((n, node) => n + node.counters.dropped, 0), 10, 'no node up: dropped, counted under the home node')
})

t.test('hold: kept in order, replayed when the node returns, new lines after the held ones', async (t) => {
  const { router, nodes, fwd } = setup('hold')
  router.setHealthy(nodes[1]!, false, 'test')
  routeAll(router, lines.slice(0, 300))
  const homeB = lines.filter((l) => homeIndex(l) === 1)
  t.equal(nodes[1]!.counters.held, homeB.filter((l) => lines.indexOf(l) < 300).length)
  t.equal(nodes[1]!.outbox.lines, nodes[1]!.counters.held)
  t.same(fwd[1]!.sent, [])
  router.setHealthy(nodes[1]!, true, '')
  // Routed while the replay runs: queued behind the held lines.
  routeAll(router, lines.slice(300))
  await waitForReplay()
  t.same(fwd[1]!.sent, homeB, 'every line of the node, in arrival order')
  t.equal(nodes[1]!.counters.replayed, nodes[1]!.counters.held)
  t.equal(nodes[1]!.outbox.lines, 0)
  t.equal(nodes[0]!.counters.rehashed + nodes[2]!.counters.rehashed, 0)
  router.stop()
})

t.test('hold: past holdMaxBytes the oldest held lines are dropped, counted', async (t) => {
  const { router, nodes, fwd } = setup('hold', 1000)
  router.setHealthy(nodes[1]!, false, 'test')
  routeAll(router, lines)
  const node = nodes[1]!
  t.ok(node.counters.dropped > 0)
  t.equal(node.counters.held, node.counters.dropped + node.outbox.lines)
  t.ok(node.outbox.bytes <= 1000)
  router.setHealthy(node, true, '')
  await waitForReplay()
  const homeB = lines.filter((l) => homeIndex(l) === 1)
  t.same(fwd[1]!.sent, homeB.slice(homeB.length - fwd[1]!.sent.length), 'the newest lines are the ones kept')
  router.stop()
})

t.test('a line too long for any datagram is dropped and counted; routing ends with nothing pending', async (t) => {
  const { router, nodes } = setup('rehash')
  routeAll(router, [`big:${'1'.repeat(70_000)}|c`, 'small:1|c'])
  t.equal(router.oversizedLines, 1)
  t.equal(nodes.reduce((n, node) => n + node.counters.forwarded, 0), 1)
  t.ok(nodes.every((n) => n.batch.pending === 0))
})
