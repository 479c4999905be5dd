import { writeFileSync } from 'node:fs'
import path from 'node:path'
import Fastify from 'fastify'
import t from 'tap'
import { lazySchemaCompilers } from '../src/admin/http/lazy-schema-compilers'
import { httpGet } from './helpers/admin-clients'
import { startFakeGraphite } from './helpers/fake-graphite'
import { shortTempDir } from './helpers/net'
import { ServerProcess } from './helpers/server-process'

/*
 * What an idle server does not use, it does not load (README: Memory): the
 * modules of backends the config does not name, the relay, prom-client
 * until the first /metrics scrape, fastify without an admin HTTP endpoint,
 * and fastify's schema compilers while no route declares a schema.
 */

/** Module paths (below node_modules, or build/src) that must not be loaded, by what they belong to. */
const UNUSED: Record<string, RegExp> = {
  'prom-client': /node_modules[\\/]prom-client[\\/]/,
  'prom-client libraries': /node_modules[\\/](@opentelemetry[\\/]api|tdigest|bintrees)[\\/]/,
  'the relay': /src[\\/]relay[\\/]|node_modules[\\/]hashring[\\/]/,
  'other backends': /src[\\/]backends[\\/](console|influxdb|prometheus|repeater|remote-write|otlp)[\\/]/,
  'push-backend libraries': /node_modules[\\/](protobufjs|snappyjs)[\\/]/,
  'schema compilers': /node_modules[\\/](ajv|ajv-formats|fast-uri|@fastify[\\/]ajv-compiler|@fastify[\\/]fast-json-stringify-compiler)[\\/]|fast-json-stringify[\\/]index\.js$/,
}
const FASTIFY = /node_modules[\\/]fastify[\\/]/

/**
 * Preloaded into the server (only: the config check's child loads what it likes): on SIGUSR2 it logs
 * the modules loaded so far as one JSON line on stderr, which ServerProcess reads as a log entry.
 */
function reporter(dir: string): string {
  const file = path.join(dir, 'report.js')
  writeFileSync(
    file,
    `if (/main\\.js$/.test(process.argv[1] ?? '')) process.on('SIGUSR2', () => process.stderr.write(JSON.stringify(` +
      `{ msg: 'modules loaded', modules: Object.keys(require.cache) }) + '\\n'))\n`,
  )
  return file
}

async function loadedModules(server: ServerProcess, nth: number): Promise<string[]> {
  server.signal('SIGUSR2')
  return (await server.waitForLog('modules loaded', nth)).modules as string[]
}

const matching = (modules: string[], pattern: RegExp): string[] => modules.filter((m) => pattern.test(m))

t.test('a server with a Graphite backend loads no other backend, no relay, no prom-client until scraped', async (t) => {
  const dir = shortTempDir(t)
  const { graphite, port } = await startFakeGraphite(t)
  const config = {
    listeners: [{ type: 'udp', address: '127.0.0.1', port: 0 }],
    backends: [{ type: 'graphite', host: '127.0.0.1', port }],
    flushInterval: 200,
  }
  const server = await ServerProcess.start(dir, config, 'config.json', ['/usr/bin/env', `NODE_OPTIONS=--require=${reporter(dir)}`])
  t.teardown(() => server.kill())
  await new Promise((resolve) => graphite.once('flush', resolve))

  const idle = await loadedModules(server, 0)
  t.ok(idle.some((m) => /src[\\/]backends[\\/]graphite[\\/]graphite\.js$/.test(m)), 'the Graphite backend is loaded (the check can see a module)')
  t.ok(matching(idle, FASTIFY).length > 0, 'fastify is loaded: the admin HTTP endpoint is on')
  for (const [what, pattern] of Object.entries(UNUSED)) t.strictSame(matching(idle, pattern), [], `${what}: not loaded`)

  const metrics = await httpGet(server.endpoints.http!, '/metrics')
  t.equal(metrics.status, 200, '/metrics answers')
  t.match(metrics.body, /^statsd_packets_received_total \d+$/m, 'with the server figures')
  t.match(metrics.body, /^nodejs_eventloop_lag_max_seconds \d/m, 'and the Node figures')
  t.notMatch(metrics.body, /nodejs_eventloop_lag_min_seconds 9223372036/, 'the first scrape has sampled the event loop: no empty histogram')
  t.equal((await httpGet(server.endpoints.http!, '/metrics')).status, 200, 'and again')
  const scraped = await loadedModules(server, 1)
  t.ok(matching(scraped, UNUSED['prom-client']!).length > 0, 'prom-client is loaded once /metrics is scraped')
  t.strictSame(matching(scraped, UNUSED['schema compilers']!), [], 'the schema compilers still are not')
  t.equal(await server.stop(), 0)
})

t.test('admin: false: fastify is not loaded either', async (t) => {
  const dir = shortTempDir(t)
  const config = { listeners: [{ type: 'udp', address: '127.0.0.1', port: 0 }], backends: [{ type: 'console' }], admin: false }
  const server = await ServerProcess.start(dir, config, 'config.json', ['/usr/bin/env', `NODE_OPTIONS=--require=${reporter(dir)}`])
  t.teardown(() => server.kill())
  const idle = await loadedModules(server, 0)
  t.strictSame(matching(idle, FASTIFY), [], 'no fastify')
  t.ok(idle.some((m) => /src[\\/]backends[\\/]console[\\/]console\.js$/.test(m)), 'the console backend it names is loaded')
  t.equal(await server.stop(), 0)
})

t.test('the lazily loaded schema compilers validate and serialize as fastify’s own', async (t) => {
  const app = Fastify({ schemaController: lazySchemaCompilers })
  t.teardown(() => app.close())
  app.post(
    '/echo',
    {
      schema: {
        body: { type: 'object', required: ['n'], properties: { n: { type: 'integer' } } },
        response: { 200: { type: 'object', properties: { n: { type: 'integer' } } } },
      },
    },
    async (req) => ({ n: (req.body as { n: number }).n, extra: 'dropped by the serializer' }),
  )
  const bad = await app.inject({ method: 'POST', url: '/echo', payload: { n: 'one' } })
  t.equal(bad.statusCode, 400)
  t.match(bad.json(), { code: 'FST_ERR_VALIDATION', message: 'body/n must be integer' })
  const good = await app.inject({ method: 'POST', url: '/echo', payload: { n: 3 } })
  t.equal(good.statusCode, 200)
  t.strictSame(good.json(), { n: 3 }, 'the response schema is applied')
})
