import type { FastifyInstance, FastifyPluginAsync } from 'fastify'
import type { Registry } from 'prom-client'
import type { AdminRoutes } from '../app'
import { buildRegistry } from '../prometheus'

export const metricsRoutes: FastifyPluginAsync<AdminRoutes> = async (app, { control }) => {
  serveMetrics(app, buildRegistry, () => control.snapshot())
}

/** GET /metrics from the registry `build` makes; its collectors share one snapshot per scrape. */
export function serveMetrics<S>(app: FastifyInstance, build: (current: () => S) => Registry, snapshot: () => S): void {
  let scrape: S | null = null
  const registry = build(() => (scrape ??= snapshot()))
  app.get('/metrics', async (_req, reply) => {
    try {
      const text = await registry.metrics()
      reply.type(registry.contentType)
      return text
    } finally {
      scrape = null
    }
  })
}
