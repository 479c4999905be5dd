import type { FastifyPluginAsync } from 'fastify'
import type { StatusSnapshot } from '../../../core/server-control'
import type { AdminRoutes } from '../app'
import { buildRegistry } from '../prometheus'

export const metricsRoutes: FastifyPluginAsync<AdminRoutes> = async (app, { control }) => {
  // One snapshot per scrape, shared by every metric's collect().
  let scrape: StatusSnapshot | null = null
  const registry = buildRegistry(() => (scrape ??= control.snapshot()))
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
