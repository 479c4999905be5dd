import { mkdirSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import t, { type Test } from 'tap'
// eslint-disable-next-line @typescript-eslint/no-require-imports
import HashRing = require('hashring')
import { httpGet } from '../helpers/admin-clients'
import { startFakeGraphite } from '../helpers/fake-graphite'
import { sendUdp, shortTempDir } from '../helpers/net'
import { ServerProcess } from '../helpers/server-process'
import { type Carbon, eventually, freePort, startCarbon } from './real-servers'
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import net from 'node:net'

/*
 * The fleet of README "Scaling out", on loopback with the real programs:
 * clients -> 2 relays -> 3 aggregators -> carbon-c-relay (carbon_ch) -> 2
 * carbon-caches, read back with whisper-fetch. User metrics must come out
 * as one server given all the traffic makes them; then one aggregator is
 * SIGKILLed, for each down policy, and what is lost must be exactly what
 * the policy says and the relays count.
 */

/** Aggregators flush every 5 s: long enough to kill one between two of its flushes on a busy machine. */
const FLUSH_MS = 5_000
const COUNTERS = 20
const TIMERS = 5
const SETS = 5

/** carbon-c-relay on a free port, consistent hashing over the caches; stopped by PID. */
async function startCarbonCRelay(t: Test, dir: string, caches: Carbon[]): Promise<number> {
  const port = await freePort()
  const conf = path.join(dir, 'carbon-c-relay.conf')
  writeFileSync(
    conf,
    `listen type linemode 127.0.0.1:${port} proto tcp ;
cluster caches carbon_ch replication 1
${caches.map((c, i) => `    127.0.0.1:${c.linePort}=cache${i}`).join('\n')}
    ;
match * send to caches stop ;
`,
  )
  const child = spawn('carbon-c-relay', ['-f', conf, '-s', '-l', path.join(dir, 'carbon-c-relay.log')], { stdio: 'ignore' })
  child.on('error', (err) => t.fail(`carbon-c-relay could not be started (is it installed?): ${err.message}`))
  t.teardown(async () => {
    if (child.exitCode !== null) return
    child.kill('SIGTERM')
    await once(child, 'exit')
  })
  await eventually('carbon-c-relay listening', 20_000, () =>
    new Promise<true | undefined>((resolve) => {
      const s = net.connect(port, '127.0.0.1', () => (s.destroy(), resolve(true)))
      s.on('error', () => resolve(undefined))
    }),
  )
  return port
}

interface Fleet {
  relays: ServerProcess[]
  aggregators: (ServerProcess | null)[]
  aggregatorConfig: object[]
  caches: Carbon[]
  ring: HashRing
  nodeIds: string[]
  dir: string
}

async function startFleet(t: Test, downPolicy: 'rehash' | 'hold'): Promise<Fleet> {
  const dir = shortTempDir(t)
  const caches = [await startCarbon(t, path.join(dir, 'a')), await startCarbon(t, path.join(dir, 'b'))]
  const ccr = await startCarbonCRelay(t, dir, caches)
  const aggregatorConfig: object[] = []
  for (let i = 0; i < 3; i++) {
    aggregatorConfig.push({
      listeners: [{ type: 'udp', port: await freePort() }],
      backends: [{ type: 'graphite', host: '127.0.0.1', port: ccr }],
      flushInterval: FLUSH_MS,
      // A name is flushed only by the aggregator that got it in that interval (no zeros from one that once had it).
      deleteIdleStats: true,
      // Each instance's own statsd.* metrics under its own name: they would collide in Graphite otherwise.
      prefixStats: `statsd.agg${i}`,
      admin: { address: '127.0.0.1', port: await freePort() },
      mgmt: false,
    })
  }
  const aggregators: (ServerProcess | null)[] = []
  for (const [i, cfg] of aggregatorConfig.entries()) aggregators.push(await startAggregator(t, dir, i, cfg))
  const nodes = aggregatorConfig.map((c) => {
    const cfg = c as { listeners: { port: number }[]; admin: { port: number } }
    return { host: '127.0.0.1', port: cfg.listeners[0]!.port, adminport: cfg.admin.port }
  })
  const relays: ServerProcess[] = []
  for (let i = 0; i < 2; i++) {
    const relayDir = path.join(dir, `relay${i}`)
    mkdirSync(relayDir)
    const relay = await ServerProcess.start(relayDir, {
      listeners: [{ type: 'udp', port: 0 }],
      relay: { nodes, healthCheck: 'http', checkIntervalMs: 1000, downPolicy },
    })
    t.teardown(() => relay.stop())
    relays.push(relay)
  }
  const nodeIds = nodes.map((n) => `${n.host}:${n.port}`)
  const ring = new HashRing(Object.fromEntries(nodeIds.map((id) => [id, 100])), 'md5', { 'max cache size': 10000, replicas: 0 })
  return { relays, aggregators, aggregatorConfig, caches, ring, nodeIds, dir }
}

async function startAggregator(t: Test, dir: string, i: number, config: object): Promise<ServerProcess> {
  const own = path.join(dir, `agg${i}-${Date.now()}`)
  mkdirSync(own)
  const server = await ServerProcess.start(own, config)
  t.teardown(() => server.stop().catch(() => null))
  return server
}

/** Sends each datagram to one of the relays, chosen at random (a fixed sequence, so a failure can be replayed). */
async function sendToRelays(fleet: Fleet, datagrams: string[], seed: number): Promise<void> {
  let x = seed
  for (const d of datagrams) {
    x = (x * 1103515245 + 12345) & 0x7fffffff
    await sendUdp(fleet.relays[x % 2]!.endpoints.udp[0]!, [d])
  }
}

interface Counts {
  forwarded: number
  rehashed: number
  held: number
  replayed: number
  dropped: number
}

/** One node's counts, summed over both relays. */
async function relayCounts(fleet: Fleet, node: number): Promise<Counts> {
  const sum: Counts = { forwarded: 0, rehashed: 0, held: 0, replayed: 0, dropped: 0 }
  for (const relay of fleet.relays) {
    const info = JSON.parse((await httpGet(relay.endpoints.http!, '/info')).body) as { nodes: (Counts & { up: boolean })[] }
    for (const key of Object.keys(sum) as (keyof Counts)[]) sum[key] += info.nodes[node]![key]
  }
  return sum
}

async function untilBothRelaysSee(fleet: Fleet, node: number, up: boolean): Promise<void> {
  await eventually(`both relays see node ${node} ${up ? 'up' : 'down'}`, 20_000, async () => {
    for (const relay of fleet.relays) {
      const info = JSON.parse((await httpGet(relay.endpoints.http!, '/info')).body) as { nodes: { up: boolean }[] }
      if (info.nodes[node]!.up !== up) return undefined
    }
    return true
  })
}

/** Lines read by both relays since they started. */
async function relayLines(fleet: Fleet): Promise<number> {
  let lines = 0
  for (const relay of fleet.relays) lines += (JSON.parse((await httpGet(relay.endpoints.http!, '/info')).body) as { received: { lines: number } }).received.lines
  return lines
}

/** Resolves right after the aggregator's next flush (its flush count on /metrics goes up). */
async function afterNextFlush(server: ServerProcess): Promise<void> {
  const flushes = async (): Promise<number> =>
    Number(/^statsd_flush_duration_seconds_count (\d+)/m.exec((await httpGet(server.endpoints.http!, '/metrics')).body)?.[1] ?? 0)
  const before = await flushes()
  await eventually('an aggregator flush', FLUSH_MS * 3, async () => ((await flushes()) > before ? true : undefined))
}

/** Every stored value of a series, from whichever cache carbon-c-relay chose for it ([] if none has it). */
async function stored(fleet: Fleet, metric: string): Promise<number[]> {
  for (const cache of fleet.caches) {
    try {
      return (await cache.fetch(metric)).map(([, v]) => v)
    } catch {
      // Not on this cache.
    }
  }
  return []
}

const counterLines = (round: string): string[] =>
  Array.from({ length: COUNTERS }, (_, i) => `fleet.c${i}:${(i % 7) + 1}|c`).map((l) => `${l}\n${l.replace(/:\d+/, `:${round.length}`)}`)

function counterName(line: string): string {
  return line.slice(0, line.indexOf(':'))
}

for (const policy of ['rehash', 'hold'] as const) {
  t.test(`2 relays, 3 aggregators, carbon-c-relay, 2 carbon-caches; one aggregator SIGKILLed, policy ${policy}`, async (t) => {
    const fleet = await startFleet(t, policy)

    // Round A: every metric type, to the fleet and to one reference server given all of it.
    const { graphite, port: referencePort } = await startFakeGraphite(t)
    const reference = await ServerProcess.start(path.join(fleet.dir, 'a'), {
      listeners: [{ type: 'udp', port: 0 }],
      backends: [{ type: 'graphite', host: '127.0.0.1', port: referencePort }],
      flushInterval: 600_000,
    })
    const roundA: string[] = [...counterLines('a')]
    // All of a timer's (or set's) values in one datagram: one interval, in the fleet as in the reference.
    for (let i = 0; i < TIMERS; i++) roundA.push(Array.from({ length: 10 + i }, (_, v) => `fleet.t${i}:${(v * 37) % 101}|ms`).join('\n'))
    for (let i = 0; i < SETS; i++) roundA.push(Array.from({ length: 3 + i }, (_, v) => `fleet.s${i}:m${v % (2 + i)}|s`).join('\n'))
    await sendToRelays(fleet, roundA, 1)
    await sendUdp(reference.endpoints.udp[0]!, roundA)
    await reference.stop()
    const expected = await graphite.waitForFlush((v) => v.has('stats.timers.fleet.t0.upper_90'))
    for (const agg of fleet.aggregators) await afterNextFlush(agg!)

    // Round A2, then SIGKILL of aggregator 1 before its next flush: what it got is lost with it.
    const victim = 1
    await afterNextFlush(fleet.aggregators[victim]!)
    const before = await relayCounts(fleet, victim)
    const routed = await relayLines(fleet)
    const roundA2 = counterLines('a2')
    await sendToRelays(fleet, roundA2, 2)
    await eventually('round A2 routed', 5_000, async () => ((await relayLines(fleet)) === routed + 2 * COUNTERS ? true : undefined))
    fleet.aggregators[victim]!.kill()
    await fleet.aggregators[victim]!.exited()
    fleet.aggregators[victim] = null
    const lostA2 = (await relayCounts(fleet, victim)).forwarded - before.forwarded
    const homedOnVictim = (lines: string[]): number =>
      lines.flatMap((d) => d.split('\n')).filter((l) => fleet.ring.get(counterName(l)) === fleet.nodeIds[victim]).length
    t.ok(homedOnVictim(roundA2) > 0, `${homedOnVictim(roundA2)} of round A2's lines are the victim's`)
    t.equal(lostA2, homedOnVictim(roundA2), 'the relays counted as forwarded to it exactly the lines it took down with it')
    await untilBothRelaysSee(fleet, victim, false)

    // Round B while it is down, then it comes back, then round C.
    const roundB = counterLines('b')
    await sendToRelays(fleet, roundB, 3)
    const down = await eventually('round B routed', 5_000, async () => {
      const c = await relayCounts(fleet, victim)
      return c.rehashed + c.held - before.rehashed - before.held === homedOnVictim(roundB) ? c : undefined
    })
    if (policy === 'rehash') {
      t.equal(down.rehashed - before.rehashed, homedOnVictim(roundB), 'its lines were re-hashed, each counted')
      t.equal(down.held, 0)
    } else {
      t.equal(down.held - before.held, homedOnVictim(roundB), 'its lines were held, each counted')
      t.equal(down.rehashed, 0)
    }
    // Round B's names are flushed by the aggregators that stood in before the victim may flush them again.
    for (const agg of fleet.aggregators) if (agg !== null) await afterNextFlush(agg)
    fleet.aggregators[victim] = await startAggregator(t, fleet.dir, victim, fleet.aggregatorConfig[victim]!)
    await untilBothRelaysSee(fleet, victim, true)
    if (policy === 'hold') {
      await eventually('held lines replayed', 10_000, async () => {
        const c = await relayCounts(fleet, victim)
        return c.replayed === c.held ? true : undefined
      })
    }
    const roundC = counterLines('c')
    await sendToRelays(fleet, roundC, 4)
    // Round C in a periodic flush of each aggregator, so that the flush on SIGTERM carries none of it: a final
    // flush in the same second as the one before would overwrite its values in whisper (one value a second).
    await Promise.all(fleet.aggregators.map((agg) => afterNextFlush(agg!)))
    // Everything reaches Graphite: the aggregators flush on SIGTERM, and the last flush of each must be stored.
    for (const agg of fleet.aggregators) t.equal(await agg!.stop(), 0)
    const after = await relayCounts(fleet, victim)
    t.equal(after.dropped, 0, 'nothing dropped by the relays')

    // Counters: every round's total, less exactly what the killed aggregator took with it.
    let mismatches = 0
    for (let i = 0; i < COUNTERS; i++) {
      const name = `fleet.c${i}`
      const lines = [...roundA.slice(0, COUNTERS), ...roundA2, ...roundB, ...roundC].flatMap((d) => d.split('\n')).filter((l) => counterName(l) === name)
      const lostHere = fleet.ring.get(name) === fleet.nodeIds[victim] ? roundA2.flatMap((d) => d.split('\n')).filter((l) => counterName(l) === name) : []
      const want = lines.reduce((s, l) => s + Number(l.slice(l.indexOf(':') + 1, l.indexOf('|'))), 0) -
        lostHere.reduce((s, l) => s + Number(l.slice(l.indexOf(':') + 1, l.indexOf('|'))), 0)
      const got = await eventually(`${name} stored`, 20_000, async () => {
        const values = await stored(fleet, `stats_counts.${name}`)
        const sum = values.reduce((a, b) => a + b, 0)
        return sum === want ? sum : undefined
      }).catch(() => -1)
      if (got !== want) {
        mismatches++
        t.fail(`stats_counts.${name}: want ${want}, stored ${JSON.stringify(await stored(fleet, `stats_counts.${name}`))}`)
      }
    }
    t.equal(mismatches, 0, 'every counter total exact, less exactly the killed interval')

    // Timers and sets of round A: exactly the reference server's values.
    for (const [series, want] of expected) {
      if (!/^stats\.(timers\.fleet\.t\d\.(upper_90|mean_90|mean|count|sum|upper|lower|median|std)|sets\.fleet\.s\d\.count)$/.test(series)) continue
      const values = await stored(fleet, series)
      t.ok(values.includes(Number(want)), `${series}: ${want} (stored ${JSON.stringify(values)})`)
    }
    // Each aggregator's own metrics under its own prefix.
    for (let i = 0; i < 3; i++) t.ok((await stored(fleet, `stats_counts.statsd.agg${i}.metrics_received`)).length > 0, `agg${i}'s own metrics`)
  })
}
