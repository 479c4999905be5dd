import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify'
import type { WriteGate } from '../../admin/auth/write-gate'
import { gateWrites, READ, WRITE } from '../../admin/http/app'
import { lazySchemaCompilers } from '../../admin/http/lazy-schema-compilers'
import { serveMetrics } from '../../admin/http/routes/metrics'
import type { RelayControl } from './relay-control'
import { renderRelayStatusPage } from './status-page'

/** The relay's admin HTTP: the same limits, health routes and write gate as the server's, its own figures. */
export function buildRelayAdminApp(
  control: RelayControl,
  logger: FastifyBaseLogger,
  writes: { gate: WriteGate; boundAddress: string },
): FastifyInstance {
  const app = Fastify({
    loggerInstance: logger,
    bodyLimit: 1024,
    connectionTimeout: 10_000,
    requestTimeout: 10_000,
    keepAliveTimeout: 5_000,
    return503OnClosing: true,
    schemaController: lazySchemaCompilers,
  })
  app.server.maxConnections = 64
  gateWrites(app, writes)
  const health = (reply: { code(status: number): unknown }): object => {
    const state = control.health.current
    reply.code(state.status === 'up' ? 200 : 503)
    return state.status === 'up' ? { status: 'up' } : state
  }
  app.get('/healthz', READ, async (_req, reply) => health(reply))
  app.post('/health/up', WRITE, async (_req, reply) => (control.health.set('up'), health(reply)))
  app.post('/health/down', WRITE, async (_req, reply) => (control.health.set('down'), health(reply)))
  app.get('/info', READ, async () => control.snapshot())
  serveMetrics(
    app,
    (current) => {
      const { withRefusals } = require('../../admin/http/prometheus') as typeof import('../../admin/http/prometheus')
      const { buildRelayRegistry } = require('./prometheus') as typeof import('./prometheus')
      return withRefusals(buildRelayRegistry(current), writes.gate)
    },
    () => control.snapshot(),
  )
  app.get('/', READ, async (_req, reply) => {
    reply.type('text/html; charset=utf-8').header('content-security-policy', "default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; connect-src 'self'")
    return renderRelayStatusPage(control.snapshot())
  })
  return app
}
