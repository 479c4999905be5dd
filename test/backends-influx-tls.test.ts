import { once } from 'node:events'
import https from 'node:https'
import type net from 'node:net'
import path from 'node:path'
import t, { type Test } from 'tap'
import { makeAuthority } from './helpers/certs'
import { sendUdp } from './helpers/net'
import { ServerProcess } from './helpers/server-process'

/*
 * InfluxDB over HTTPS with caFile: the server's certificate is checked
 * against that CA (through undici's Agent: the global fetch takes no CA).
 * The receiver is a loopback HTTPS stand-in with a certificate made here;
 * the real InfluxDB is tested over plain HTTP in test/integration.
 */

const ca = makeAuthority()
const pair = ca.issue('localhost', { server: true })

async function httpsReceiver(t: Test): Promise<{ port: number; requests: { url: string; body: string }[] }> {
  const requests: { url: string; body: string }[] = []
  const server = https.createServer(pair, (req, res) => {
    let body = ''
    req.setEncoding('utf8').on('data', (d: string) => (body += d)).on('end', () => {
      requests.push({ url: req.url!, body })
      res.writeHead(204).end()
    })
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  t.teardown(() => server.close())
  return { port: (server.address() as net.AddressInfo).port, requests }
}

t.test('with caFile, the flush is delivered over HTTPS', async (t) => {
  const receiver = await httpsReceiver(t)
  const dir = t.testdir({ 'ca.pem': ca.cert })
  const server = await ServerProcess.start(dir, {
    listeners: [{ type: 'udp', address: '127.0.0.1', port: 0 }],
    backends: [{ type: 'influxdb', url: `https://localhost:${receiver.port}/`, database: 'db', caFile: path.join(dir, 'ca.pem') }],
    flushInterval: 600_000,
  })
  t.teardown(() => server.kill())
  await sendUdp(server.endpoints.udp[0]!, ['tls.influx:3|c'])
  t.equal(await server.stop(), 0)
  t.equal(receiver.requests.length, 1, 'one request, the final flush')
  t.match(receiver.requests[0]!.url, /^\/write\?db=db&/)
  t.match(receiver.requests[0]!.body, /tls\.influx/)
  t.notOk(server.logs.some((l) => l.msg === 'delivery failed'))
})

t.test('without it, the untrusted certificate fails delivery, logged', async (t) => {
  const receiver = await httpsReceiver(t)
  const server = await ServerProcess.start(t.testdir(), {
    listeners: [{ type: 'udp', address: '127.0.0.1', port: 0 }],
    backends: [{ type: 'influxdb', url: `https://localhost:${receiver.port}/`, database: 'db', retryInitialMs: 60_000 }],
    flushInterval: 200,
  })
  t.teardown(() => server.kill())
  const failed = await server.waitForLog('delivery failed')
  t.match(String(failed.err), /certificate|fetch failed/i)
  t.equal(receiver.requests.length, 0)
  server.kill()
})
