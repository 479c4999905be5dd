import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify'
import { serveMetrics } from '../../admin/http/routes/metrics'
import { buildRelayRegistry } from './prometheus'
import type { RelayControl } from './relay-control'
import { renderRelayStatusPage } from './status-page'

/** The relay's admin HTTP: the same limits and health routes as the server's, its own figures. */
export function buildRelayAdminApp(control: RelayControl, logger: FastifyBaseLogger): FastifyInstance {
  const app = Fastify({
    loggerInstance: logger,
    bodyLimit: 1024,
    connectionTimeout: 10_000,
    requestTimeout: 10_000,
    keepAliveTimeout: 5_000,
    return503OnClosing: true,
  })
  app.server.maxConnections = 64
  const health = (reply: { code(status: number): unknown }): object => {
    const state = control.health.current
    reply.code(state.status === 'up' ? 200 : 503)
    return state.status === 'up' ? { status: 'up' } : state
  }
  app.get('/healthz', async (_req, reply) => health(reply))
  app.post('/health/up', async (_req, reply) => (control.health.set('up'), health(reply)))
  app.post('/health/down', async (_req, reply) => (control.health.set('down'), health(reply)))
  app.get('/info', async () => control.snapshot())
  serveMetrics(app, buildRelayRegistry, () => control.snapshot())
  app.get('/', async (_req, reply) => {
    reply.type('text/html; charset=utf-8').header('content-security-policy', "default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; connect-src 'self'")
    return renderRelayStatusPage(control.snapshot())
  })
  return app
}
