import type { FastifyPluginAsync } from 'fastify'
import { type AdminRoutes, READ, WRITE } from '../app'

/** Liveness as a load balancer sees it, readiness, and the operator's switch (the console's `health up|down`). */
export const healthRoutes: FastifyPluginAsync<AdminRoutes> = async (app, { control }) => {
  const health = (reply: { code(status: number): unknown }): object => {
    const state = control.health.current
    reply.code(state.status === 'up' ? 200 : 503)
    return state.status === 'up' ? { status: 'up' } : state
  }
  app.get('/healthz', READ, async (_req, reply) => health(reply))
  app.post('/health/up', WRITE, async (_req, reply) => {
    control.health.set('up')
    return health(reply)
  })
  app.post('/health/down', WRITE, async (_req, reply) => {
    control.health.set('down')
    return health(reply)
  })
  app.get('/readyz', READ, async (_req, reply) => {
    const { ready } = control.snapshot()
    reply.code(ready.ready ? 200 : 503)
    return ready
  })
}
