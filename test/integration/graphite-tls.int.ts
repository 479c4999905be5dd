import { existsSync, readFileSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import t from 'tap'
import { makeAuthority } from '../helpers/certs'
import { sendUdp, shortTempDir } from '../helpers/net'
import { ServerProcess } from '../helpers/server-process'
import { eventually, startRelay } from './real-servers'

/*
 * Graphite over TLS against the real carbon-c-relay (carbon-cache has no
 * TLS): with the relay's CA in caFile every flush arrives; a relay whose
 * certificate that CA did not sign gets nothing, and the failure is logged
 * and retried.
 */

t.test('graphite backend over TLS to carbon-c-relay', async (t) => {
  const dir = shortTempDir(t)
  const ca = makeAuthority()
  const pair = ca.issue('localhost', { server: true })
  const relay = await startRelay(t, dir, pair.cert + pair.key)
  writeFileSync(path.join(dir, 'ca.pem'), ca.cert)
  const server = await ServerProcess.start(dir, {
    listeners: [{ type: 'udp', address: '127.0.0.1', port: 0 }],
    backends: [{ type: 'graphite', host: '127.0.0.1', port: relay.port, tls: { caFile: path.join(dir, 'ca.pem') } }],
    flushInterval: 1000,
  })
  t.teardown(() => server.kill())
  await sendUdp(server.endpoints.udp[0]!, ['tls.relay:7|c'])
  const line = await eventually('the counter at the relay', 20_000, async () => {
    if (!existsSync(relay.outFile)) return undefined
    return readFileSync(relay.outFile, 'utf8').split('\n').find((l) => l.startsWith('stats_counts.tls.relay 7 '))
  })
  t.ok(line, `received over TLS: ${line}`)
  t.equal(await server.stop(), 0)
  t.notOk(server.logs.some((l) => l.msg === 'delivery failed'), 'no failed delivery')
})

t.test('a relay certificate from another CA: nothing sent, the failure logged', async (t) => {
  const dir = shortTempDir(t)
  const relayCa = makeAuthority('relay CA')
  const pair = relayCa.issue('localhost', { server: true })
  const relay = await startRelay(t, dir, pair.cert + pair.key)
  writeFileSync(path.join(dir, 'ca.pem'), makeAuthority('some other CA').cert)
  const server = await ServerProcess.start(dir, {
    listeners: [{ type: 'udp', address: '127.0.0.1', port: 0 }],
    backends: [{ type: 'graphite', host: '127.0.0.1', port: relay.port, tls: { caFile: path.join(dir, 'ca.pem') }, retryInitialMs: 60_000 }],
    flushInterval: 500,
  })
  t.teardown(() => server.kill())
  const failed = await server.waitForLog('delivery failed', 0, 20_000)
  t.match(String(failed.err), /certificate|verify/i)
  t.notOk(existsSync(relay.outFile) && readFileSync(relay.outFile, 'utf8').includes('stats_counts'), 'the relay got nothing')
  server.kill()
})
