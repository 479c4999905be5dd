import { spawn } from 'node:child_process'
import dgram from 'node:dgram'
import { once } from 'node:events'
import { writeFileSync } from 'node:fs'
import net from 'node:net'
import path from 'node:path'
import t from 'tap'
import { sendUdp, withTimeout } from './helpers/net'
import { SinkNode, untilLines } from './helpers/relay-nodes'
import { ServerProcess } from './helpers/server-process'

/*
 * Etsy's proxy.js (the devDependency, run as it is) and this relay, started
 * from the same proxy config, send each of 100,000 names to the same node:
 * proxies and relays can share one fleet.
 */

const NAMES = 100_000
/** Names per round: proxy.js sends a datagram per line, and each round waits until all arrived. */
const ROUND = 250
const PROXY_JS = path.resolve(__dirname, '../../node_modules/statsd/proxy.js')

/** A port free now on loopback for UDP and TCP (proxy.js reads port 0 as "default"). */
async function freePort(): Promise<number> {
  for (;;) {
    const server = net.createServer().listen(0, '127.0.0.1')
    await once(server, 'listening')
    const { port } = server.address() as net.AddressInfo
    const udp = dgram.createSocket('udp4')
    const free = await new Promise<boolean>((resolve) => {
      udp.once('error', () => resolve(false))
      udp.bind(port, '127.0.0.1', () => resolve(true))
    })
    udp.close()
    server.close()
    if (free) return port
  }
}

t.test('proxy.js and the relay send 100,000 names to the same nodes', async (t) => {
  const nodes = await Promise.all([SinkNode.start(), SinkNode.start(), SinkNode.start()])
  t.teardown(() => Promise.all(nodes.map((n) => n.close())))
  const dir = t.testdir()
  const config = (port: number, mgmtPort: number): string => `{
  nodes: [
${nodes.map((n) => `    {host: '127.0.0.1', port: ${n.port}, adminport: ${n.adminport}},`).join('\n')}
  ],
  address: '127.0.0.1',
  port: ${port},
  mgmt_address: '127.0.0.1',
  mgmt_port: ${mgmtPort},
  checkInterval: 60000,
  cacheSize: 10000
}`
  const proxyPort = await freePort()
  writeFileSync(path.join(dir, 'proxy.js'), config(proxyPort, await freePort()))
  const proxy = spawn(process.execPath, [PROXY_JS, path.join(dir, 'proxy.js')], { stdio: ['ignore', 'pipe', 'pipe'] })
  t.teardown(() => void proxy.kill('SIGKILL'))
  let proxyOut = ''
  await withTimeout(
    new Promise<void>((resolve) => {
      proxy.stdout!.on('data', (d: Buffer) => {
        proxyOut += d.toString()
        if (proxyOut.includes('server is up')) resolve()
      })
    }),
    10_000,
    'proxy.js start',
  )
  const relay = await ServerProcess.start(dir, config(0, 0), 'relay.js')
  t.teardown(() => relay.stop())

  const send = async (target: { host: string; port: number }, from: number, value: number): Promise<void> => {
    const before = nodes.reduce((n, node) => n + node.lines.length, 0)
    const lines: string[] = []
    for (let i = from; i < from + ROUND; i++) lines.push(`fleet.host${i % 97}.metric_${i}:${value}|c`)
    const datagrams: string[] = []
    for (let i = 0; i < lines.length; i += 25) datagrams.push(lines.slice(i, i + 25).join('\n'))
    await sendUdp(target, datagrams)
    await untilLines(nodes, before + ROUND)
  }
  for (let from = 0; from < NAMES; from += ROUND) {
    await send({ host: '127.0.0.1', port: proxyPort }, from, 1)
    await send(relay.endpoints.udp[0]!, from, 2)
  }

  const viaProxy = new Map<string, number>()
  const viaRelay = new Map<string, number>()
  nodes.forEach((node, i) => {
    for (const line of node.lines) (line.endsWith(':1|c') ? viaProxy : viaRelay).set(line.slice(0, line.indexOf(':')), i)
  })
  t.equal(viaProxy.size, NAMES, 'proxy.js delivered every name once')
  t.equal(viaRelay.size, NAMES, 'the relay delivered every name once')
  let disagree = 0
  for (const [name, node] of viaProxy) if (viaRelay.get(name) !== node) disagree++
  t.equal(disagree, 0, 'no name went to another node')
  const shares = nodes.map((_, i) => [...viaRelay.values()].filter((n) => n === i).length)
  t.ok(shares.every((s) => s > NAMES / 6), `the names are spread: ${shares.join(', ')}`)
  const proxyDatagrams = nodes.reduce((n, node) => n + node.datagrams.filter((d) => d.toString().endsWith(':1|c')).length, 0)
  t.equal(proxyDatagrams, NAMES, 'proxy.js: a datagram per line')
})
