import { spawnSync } from 'node:child_process'
import { writeFileSync } from 'node:fs'
import http from 'node:http'
import path from 'node:path'
import t from 'tap'
import { FAILURES_PER_WINDOW, FAILURE_WINDOW_MS, isLoopback, WriteGate } from '../src/admin/auth/write-gate'
import { commandAccess } from '../src/admin/console/commands'
import { NODE_FLAGS } from '../src/core/node-flags'
import { consoleSession, eventually } from './helpers/admin-clients'
import { sendUdp } from './helpers/net'
import { ServerProcess } from './helpers/server-process'

/*
 * Admin writes off loopback: refused without the admin token and accepted
 * with it, on HTTP and on the console; the token reloaded by SIGHUP; a flood
 * of bad tokens limited per source while the server serves on; no secret in
 * any output; Etsy configs keep Etsy's open console, with a warning.
 * The servers bind 0.0.0.0 (the case that needs a token); every client
 * connects over loopback only.
 */

const TOKEN_A = 'alpha-admin-token-0123456789'
const TOKEN_B = 'bravo-admin-token-9876543210'
const INGEST_TOKEN = 'statsgodsecret42'
const INFLUX_PASSWORD = 'influx-password-xyz'
const INFLUX_URL_SECRET = 'urlsecret77'
const SECRETS = [TOKEN_A, TOKEN_B, INGEST_TOKEN, INFLUX_PASSWORD, INFLUX_URL_SECRET]

type Reply = { status: number; body: string }

/** An HTTP request to 127.0.0.1:port from `localAddress` (any 127/8 address is a different source). */
function request(port: number, method: string, urlPath: string, token?: string, localAddress = '127.0.0.1'): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = token === undefined ? {} : { authorization: `Bearer ${token}` }
    const req = http.request({ host: '127.0.0.1', port, method, path: urlPath, headers, localAddress, agent: false, timeout: 10_000 }, (res) => {
      let body = ''
      res.setEncoding('utf8').on('data', (d: string) => (body += d)).on('end', () => resolve({ status: res.statusCode!, body }))
    })
    req.on('error', reject).on('timeout', () => req.destroy(new Error('timeout')))
    req.end()
  })
}

const mgmtOf = (server: ServerProcess) => ({ host: '127.0.0.1', port: server.endpoints.mgmt!.port })
const ask = (server: ServerProcess, ...commands: string[]): Promise<string> => consoleSession(mgmtOf(server), [...commands, 'quit'])

t.test('classification: every console command is a read, a write or auth', async (t) => {
  for (const cmd of ['delcounters a', 'deltimers a.*', 'delgauges x', 'delsets y', 'health up', 'health down', 'health DOWN']) {
    t.equal(commandAccess(cmd), 'write', cmd)
  }
  for (const cmd of ['help', 'stats', 'counters', 'timers', 'gauges', 'sets', 'health', 'health  up', 'config', 'quit', 'constructor', 'bogus']) {
    t.equal(commandAccess(cmd), 'read', cmd)
  }
  t.equal(commandAccess('auth x'), 'auth')
})

t.test('WriteGate: loopback, constant-time compare, per-source limit and its window', async (t) => {
  let now = 1_000_000
  const logged: object[] = []
  const gate = new WriteGate({ token: TOKEN_A, openWrites: false }, { warn: (o) => logged.push(o) }, () => now)
  for (const a of ['127.0.0.1', '127.8.9.10', '::1', '[::1]', '::ffff:127.0.0.1', 'localhost']) t.ok(isLoopback(a), a)
  for (const a of ['0.0.0.0', '::', '10.0.0.1', '::ffff:10.0.0.1', '128.0.0.1']) t.notOk(isLoopback(a), a)
  t.equal(gate.check('127.0.0.1', 'x', undefined, 'http'), 'allowed', 'no token needed on loopback')
  t.equal(gate.check('0.0.0.0', 'x', undefined, 'http'), 'missing')
  t.equal(gate.check('0.0.0.0', 'x', TOKEN_A + 'x', 'http'), 'wrong', 'a longer token is wrong, not an exception')
  t.equal(gate.check('0.0.0.0', 'x', 'short', 'http'), 'wrong')
  t.equal(gate.check('0.0.0.0', 'x', TOKEN_A, 'http'), 'allowed')
  for (let i = 2; i < FAILURES_PER_WINDOW; i++) gate.check('0.0.0.0', 'x', undefined, 'mgmt') // not counted towards the limit
  for (let i = 2; i < FAILURES_PER_WINDOW; i++) gate.check('0.0.0.0', 'x', 'bad', 'mgmt')
  t.equal(gate.check('0.0.0.0', 'x', TOKEN_A, 'http'), 'rate-limited', 'past the limit, even the right token waits')
  t.equal(gate.check('0.0.0.0', 'y', TOKEN_A, 'http'), 'allowed', 'another source is not locked out')
  gate.check('0.0.0.0', 'x', 'bad', 'http')
  t.same(gate.refusals, { missing: FAILURES_PER_WINDOW - 1, wrong: FAILURES_PER_WINDOW, 'rate-limited': 2, closed: 0 })
  t.equal(logged.length, 2 * FAILURES_PER_WINDOW, 'one log line per failure, one per limited source and window')
  t.notOk(JSON.stringify(logged).includes('bad'), 'no presented token in the log')
  now += FAILURE_WINDOW_MS
  t.equal(gate.check('0.0.0.0', 'x', TOKEN_A, 'http'), 'allowed', 'the window ends')
  gate.update({ openWrites: false })
  t.equal(gate.check('0.0.0.0', 'x', TOKEN_A, 'http'), 'closed', 'no token configured: closed')
  gate.update({ openWrites: true })
  t.equal(gate.check('0.0.0.0', 'x', undefined, 'http'), 'allowed', 'openWrites (Etsy configs)')
  // A flood from many addresses keeps a bounded table.
  gate.update({ token: TOKEN_A, openWrites: false })
  for (let i = 0; i < 10_000; i++) gate.check('0.0.0.0', `s${i}`, 'bad', 'http')
  t.ok((gate as unknown as { sources: Map<string, unknown> }).sources.size <= 4096)
})

t.test('native config off loopback: writes need the token, reads do not; reload; flood; no secrets', async (t) => {
  const dir = t.testdir({ 'admin-token': `${TOKEN_A}\n` })
  const config = {
    listeners: [{ type: 'udp', address: '127.0.0.1', port: 0, auth: 'token' }],
    backends: [
      { type: 'console' },
      // Never reached: a closed port on loopback; its credentials must not show.
      { type: 'influxdb', url: `http://user:${INFLUX_URL_SECRET}@127.0.0.1:9/`, database: 'db', username: 'u', password: INFLUX_PASSWORD },
    ],
    auth: { tokens: { [INGEST_TOKEN]: true } },
    admin: { address: '0.0.0.0', port: 0 },
    mgmt: { address: '0.0.0.0', port: 0 },
    adminAuth: { tokenFile: path.join(dir, 'admin-token') },
    flushInterval: 600_000,
  }
  const server = await ServerProcess.start(dir, config)
  t.teardown(() => server.kill())
  const port = server.endpoints.http!.port
  await sendUdp(server.endpoints.udp[0]!, [`${INGEST_TOKEN}.api.hits:1|c\n${INGEST_TOKEN}.api.errors:1|c`])
  await eventually(async () => ((await ask(server, 'counters')).includes('api.errors') ? true : undefined), 'counters arrived')

  await t.test('reads are open', async (t) => {
    for (const p of ['/healthz', '/readyz', '/metrics', '/info', '/']) t.equal((await request(port, 'GET', p)).status, 200, p)
    t.match(await ask(server, 'stats', 'health', 'counters', 'config'), /uptime: .*health: up.*api\.hits/s)
  })

  await t.test('HTTP writes: refused without the token and with a wrong one, accepted with it', async (t) => {
    for (const p of ['/health/down', '/health/up']) {
      const missing = await request(port, 'POST', p)
      t.equal(missing.status, 401, `${p} without a token`)
      t.match(missing.body, /Bearer/)
      t.equal((await request(port, 'POST', p, 'not-the-token')).status, 401, `${p} with a wrong token`)
      t.equal((await request(port, 'GET', '/healthz')).status, 200, 'health unchanged')
    }
    const down = await request(port, 'POST', '/health/down', TOKEN_A)
    t.equal(down.status, 503, 'accepted: down')
    t.equal((await request(port, 'GET', '/healthz')).status, 503)
    t.equal((await request(port, 'POST', '/health/up', TOKEN_A)).status, 200, 'accepted: up')
  })

  await t.test('console writes: refused without auth and after a wrong one, accepted after auth', async (t) => {
    const refused = await ask(server, 'delcounters api.hits', 'deltimers x', 'delgauges x', 'delsets x', 'health down', 'auth wrong-token-000000000', 'delcounters api.hits', 'health')
    t.equal(
      refused,
      'ERROR: this command needs the admin token: send "auth TOKEN" first\n'.repeat(5) +
        'ERROR: wrong admin token\n' +
        'ERROR: this command needs the admin token: send "auth TOKEN" first\n' +
        'health: up\n',
    )
    t.match(await ask(server, 'counters'), /api\.hits/, 'nothing deleted')
    const accepted = await ask(server, `auth ${TOKEN_A}`, 'delcounters api.hits', 'deltimers nope', 'delgauges nope', 'delsets nope', 'health down', 'health up')
    t.equal(accepted, 'auth: ok\ndeleted: api.hits\nEND\n\n' + 'metric nope not found\nEND\n\n'.repeat(3) + 'health: down\nhealth: up\n', 'every write runs once authenticated')
  })

  await t.test('the token file is re-read on SIGHUP', async (t) => {
    writeFileSync(path.join(dir, 'admin-token'), `${TOKEN_B}\n`)
    const reloads = server.logged('reload: new settings take effect at the next flush').length
    server.signal('SIGHUP')
    await server.waitForLog('reload: new settings take effect at the next flush', reloads)
    t.equal((await request(port, 'POST', '/health/up', TOKEN_A)).status, 401, 'the old token is refused')
    t.equal((await request(port, 'POST', '/health/up', TOKEN_B)).status, 200, 'the new one accepted')
    t.equal(await ask(server, `auth ${TOKEN_A}`, 'health down'), 'ERROR: wrong admin token\nERROR: this command needs the admin token: send "auth TOKEN" first\n')
    t.equal(await ask(server, `auth ${TOKEN_B}`, 'health up'), 'auth: ok\nhealth: up\n')
  })

  await t.test('a flood of bad tokens: limited per source, counted, the server serves on', async (t) => {
    const FLOOD = 300
    const statuses = new Map<number, number>()
    for (let i = 0; i < FLOOD; i += 30) {
      const batch = await Promise.all(Array.from({ length: 30 }, (_, j) => request(port, 'POST', '/health/down', `bad-${i + j}`, '127.0.0.3')))
      for (const r of batch) statuses.set(r.status, (statuses.get(r.status) ?? 0) + 1)
    }
    t.same(Object.fromEntries(statuses), { 401: FAILURES_PER_WINDOW, 429: FLOOD - FAILURES_PER_WINDOW })
    t.equal((await request(port, 'POST', '/health/down', TOKEN_B, '127.0.0.3')).status, 429, 'the flooding source waits out the window')
    t.equal((await request(port, 'GET', '/healthz', undefined, '127.0.0.3')).status, 200, 'reads still served to it')
    t.equal((await request(port, 'POST', '/health/up', TOKEN_B, '127.0.0.4')).status, 200, 'the operator elsewhere is not locked out')
    const metrics = (await request(port, 'GET', '/metrics')).body
    t.match(metrics, new RegExp(`statsd_admin_writes_refused_total{reason="rate-limited"} ${FLOOD - FAILURES_PER_WINDOW + 1}\\n`))
    t.match(metrics, /statsd_admin_writes_refused_total{reason="wrong"} \d+/)
    t.ok(server.logged('admin write refused').length < FAILURES_PER_WINDOW + 20, 'the log is not flooded')
  })

  await t.test('no secret in the console config, /info, the status page, --print-config or the log', async (t) => {
    const outputs: Record<string, string> = {
      'console config': await ask(server, 'config'),
      '/info': (await request(port, 'GET', '/info')).body,
      'status page': (await request(port, 'GET', '/')).body,
      '/metrics': (await request(port, 'GET', '/metrics')).body,
    }
    const printed = spawnSync(process.execPath, [...NODE_FLAGS, path.resolve(__dirname, '../src/main.js'), '--print-config', path.join(dir, 'config.json')], { encoding: 'utf8' })
    t.equal(printed.status, 0)
    outputs['--print-config'] = printed.stdout
    outputs['log'] = JSON.stringify(server.logs)
    for (const [what, text] of Object.entries(outputs)) {
      for (const secret of SECRETS) t.notOk(text.includes(secret), `${what} does not show ${secret}`)
    }
    const shown = JSON.parse(printed.stdout) as { adminAuth: object; auth: object; backends: object[] }
    t.same(shown.adminAuth, { tokenFile: path.join(dir, 'admin-token'), openWrites: false }, 'the token file is named, its token not shown')
    t.same(shown.auth, { tokens: { '<redacted>-1': true } })
    t.match(shown.backends[1], { url: 'http://redacted@127.0.0.1:9/', password: '<redacted>' })
    t.match(outputs["/info"], /"target":"http:\/\/redacted@127\.0\.0\.1:9\/"/)
  })

  t.equal(await server.stop(), 0)
})

t.test('native config off loopback without a token: writes closed, and said so', async (t) => {
  const server = await ServerProcess.start(t.testdir(), {
    listeners: [{ type: 'udp', address: '127.0.0.1', port: 0 }],
    admin: { address: '0.0.0.0', port: 0 },
    mgmt: { address: '0.0.0.0', port: 0 },
  })
  t.teardown(() => server.kill())
  const res = await request(server.endpoints.http!.port, 'POST', '/health/down', 'anything-at-all-123')
  t.equal(res.status, 403)
  t.match(res.body, /no adminAuth token/)
  t.equal(await ask(server, 'health down', 'health'), 'ERROR: writes are disabled on this address: no adminAuth token is configured\nhealth: up\n')
  t.equal(server.logs.filter((l) => /writes are refused on 0\.0\.0\.0/.test(String(l.msg))).length, 2, 'one line per server')
  t.equal(await server.stop(), 0)
})

t.test('Etsy config without a token: console writes stay open, with a warning naming the setting', async (t) => {
  const server = await ServerProcess.start(t.testdir(), '{ port: 0, address: "127.0.0.1", mgmt_port: 0, backends: ["./backends/console"], flushInterval: 600000 }', 'config.js')
  t.teardown(() => server.kill())
  const warning = server.logs.find((l) => l.server === 'mgmt' && l.level === 40)
  t.match(warning?.msg, /mgmt writes are open to anyone who can reach 0\.0\.0\.0:0.*adminAuth\.tokenFile.*mgmt_address/)
  t.equal(await ask(server, 'health down', 'health up'), 'health: down\nhealth: up\n', 'as in Etsy')
  t.equal(await server.stop(), 0)
})

t.test('Etsy config with adminAuth: closed like a native one', async (t) => {
  const server = await ServerProcess.start(t.testdir(), `{ port: 0, address: "127.0.0.1", mgmt_port: 0, adminAuth: { token: "${TOKEN_A}" } }`, 'config.js')
  t.teardown(() => server.kill())
  t.notOk(server.logs.some((l) => l.server === 'mgmt'), 'no warning')
  t.equal(await ask(server, 'health down', `auth ${TOKEN_A}`, 'health down'), 'ERROR: this command needs the admin token: send "auth TOKEN" first\nauth: ok\nhealth: down\n')
  t.equal(await server.stop(), 0)
})
