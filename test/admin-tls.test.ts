import { writeFileSync } from 'node:fs'
import http from 'node:http'
import https from 'node:https'
import path from 'node:path'
import t from 'tap'
import { makeAuthority } from './helpers/certs'
import { ServerProcess } from './helpers/server-process'

/*
 * The admin HTTP server over TLS: reads and token-guarded writes over HTTPS,
 * client certificates when asked for, certificates reloaded on SIGHUP, and
 * the plain loopback probe port that keeps the container's HEALTHCHECK
 * working. Servers bind 0.0.0.0; clients connect over loopback only.
 */

const TOKEN = 'admin-tls-token-0123456789abcdef'
const ca = makeAuthority()
const serverPair = ca.issue('localhost', { server: true })
const client = ca.issue('operator')

type Reply = { status: number; body: string; issuer?: string }

function get(
  secure: boolean,
  port: number,
  method: string,
  urlPath: string,
  options: https.RequestOptions = {},
): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = (secure ? https : http).request(
      { host: '127.0.0.1', port, method, path: urlPath, agent: false, timeout: 10_000, servername: 'localhost', ...options },
      (res) => {
        let body = ''
        const issuer = secure ? ((res.socket as import('node:tls').TLSSocket).getPeerCertificate().issuer?.CN as string | undefined) : undefined
        res.setEncoding('utf8').on('data', (d: string) => (body += d)).on('end', () => resolve({ status: res.statusCode!, body, ...(issuer !== undefined && { issuer }) }))
      },
    )
    req.on('error', reject).on('timeout', () => req.destroy(new Error('timeout')))
    req.end()
  })
}

t.test('HTTPS admin with mTLS, token-guarded writes, SIGHUP reload, plain loopback probe', async (t) => {
  const dir = t.testdir({ 'ca.pem': ca.cert, 'server.pem': serverPair.cert, 'server.key': serverPair.key })
  const server = await ServerProcess.start(dir, {
    listeners: [{ type: 'udp', address: '127.0.0.1', port: 0 }],
    admin: {
      address: '0.0.0.0',
      port: 0,
      probePort: 0,
      tls: { certFile: path.join(dir, 'server.pem'), keyFile: path.join(dir, 'server.key'), clientCaFile: path.join(dir, 'ca.pem') },
    },
    adminAuth: { token: TOKEN },
  })
  t.teardown(() => server.kill())
  const { https: secure, probe } = server.endpoints
  t.ok(secure !== undefined && probe !== undefined, 'https and probe servers up')
  t.equal(server.endpoints.http, undefined, 'no plain server on the public address')
  t.equal(probe!.host, '127.0.0.1')
  const withCert = { ca: ca.cert, ...client }

  t.same(JSON.parse((await get(true, secure!.port, 'GET', '/healthz', withCert)).body), { status: 'up' }, 'a read over HTTPS')
  await t.rejects(get(true, secure!.port, 'GET', '/healthz', { ca: ca.cert }), 'no client certificate: refused')
  await t.rejects(get(false, secure!.port, 'GET', '/healthz'), 'plain HTTP on the TLS port: refused')
  t.equal((await get(true, secure!.port, 'POST', '/health/down', withCert)).status, 401, 'a write without the token')
  t.equal((await get(true, secure!.port, 'POST', '/health/down', { ...withCert, headers: { authorization: `Bearer ${TOKEN}` } })).status, 503, 'with it')

  // The probe: plain HTTP on loopback, as the HEALTHCHECK asks it; writes open there, as on any loopback server.
  t.equal((await get(false, probe!.port, 'GET', '/healthz')).status, 503, 'the probe sees the same health')
  t.equal((await get(false, probe!.port, 'POST', '/health/up')).status, 200, 'loopback: no token needed')
  t.equal((await get(true, secure!.port, 'GET', '/healthz', withCert)).status, 200)

  // Rotate: a certificate from another CA, then SIGHUP.
  const other = makeAuthority('rotated CA')
  const rotated = other.issue('localhost', { server: true })
  writeFileSync(path.join(dir, 'server.pem'), rotated.cert)
  writeFileSync(path.join(dir, 'server.key'), rotated.key)
  server.signal('SIGHUP')
  await server.waitForLog('TLS certificates reloaded')
  const after = await get(true, secure!.port, 'GET', '/healthz', { ...withCert, ca: other.cert })
  t.equal(after.issuer, 'rotated CA', 'new connections get the new certificate')
  t.equal(await server.stop(), 0)
})
