import { once } from 'node:events'
import https from 'node:https'
import type net from 'node:net'
import path from 'node:path'
import t, { type Test } from 'tap'
import { makeAuthority } from './helpers/certs'
import { sendUdp } from './helpers/net'
import { decodeWrite } from './helpers/push-receivers'
import { ServerProcess } from './helpers/server-process'

/*
 * The HTTP backends over HTTPS with caFile (InfluxDB, remote write): the
 * receiver's certificate is checked against that CA (through undici's
 * Agent: the global fetch takes no CA). The receiver is a loopback HTTPS
 * stand-in with a certificate made here; the real InfluxDB, Prometheus and
 * VictoriaMetrics are tested over plain HTTP in test/integration.
 */

const ca = makeAuthority()
const pair = ca.issue('localhost', { server: true })

async function httpsReceiver(t: Test): Promise<{ port: number; requests: { url: string; body: Buffer }[] }> {
  const requests: { url: string; body: Buffer }[] = []
  const server = https.createServer(pair, (req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (d: Buffer) => chunks.push(d)).on('end', () => {
      requests.push({ url: req.url!, body: Buffer.concat(chunks) })
      res.writeHead(204).end()
    })
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  t.teardown(() => server.close())
  return { port: (server.address() as net.AddressInfo).port, requests }
}

const BACKENDS = {
  influxdb: (port: number) => ({ type: 'influxdb', url: `https://localhost:${port}/`, database: 'db' }),
  remote_write: (port: number) => ({ type: 'remote_write', url: `https://localhost:${port}/api/v1/write`, instance: 'a' }),
}
const RECEIVED = {
  influxdb: (r: { url: string; body: Buffer }) => r.url.startsWith('/write?db=db&') && r.body.toString().includes('tls.https'),
  remote_write: (r: { url: string; body: Buffer }) =>
    r.url === '/api/v1/write' && decodeWrite(r.body).some((s) => s.labels.__name__ === 'tls_https'),
}

for (const type of ['influxdb', 'remote_write'] as const) {
  t.test(`${type}: with caFile, the flush is delivered over HTTPS`, async (t) => {
    const receiver = await httpsReceiver(t)
    const dir = t.testdir({ 'ca.pem': ca.cert })
    const server = await ServerProcess.start(dir, {
      listeners: [{ type: 'udp', address: '127.0.0.1', port: 0 }],
      backends: [{ ...BACKENDS[type](receiver.port), caFile: path.join(dir, 'ca.pem') }],
      flushInterval: 600_000,
    })
    t.teardown(() => server.kill())
    await sendUdp(server.endpoints.udp[0]!, ['tls.https:3|c'])
    t.equal(await server.stop(), 0)
    t.equal(receiver.requests.length, 1, 'one request, the final flush')
    t.ok(RECEIVED[type](receiver.requests[0]!), 'the flush, as sent')
    t.notOk(server.logs.some((l) => l.msg === 'delivery failed'))
  })

  t.test(`${type}: without it, the untrusted certificate fails delivery, logged`, async (t) => {
    const receiver = await httpsReceiver(t)
    const server = await ServerProcess.start(t.testdir(), {
      listeners: [{ type: 'udp', address: '127.0.0.1', port: 0 }],
      backends: [{ ...BACKENDS[type](receiver.port), retryInitialMs: 60_000 }],
      flushInterval: 200,
    })
    t.teardown(() => server.kill())
    await sendUdp(server.endpoints.udp[0]!, ['tls.https:3|c'])
    const failed = await server.waitForLog('delivery failed')
    t.match(String(failed.err), /certificate|fetch failed/i)
    t.equal(receiver.requests.length, 0)
    server.kill()
  })
}
