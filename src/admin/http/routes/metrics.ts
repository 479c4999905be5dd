import type { FastifyPluginAsync } from 'fastify'
import { Counter } from 'prom-client'
import type { StatusSnapshot } from '../../../core/server-control'
import { type AdminRoutes, READ } from '../app'
import { buildRegistry } from '../prometheus'

export const metricsRoutes: FastifyPluginAsync<AdminRoutes> = async (app, { control, gate }) => {
  // One snapshot per scrape, shared by every metric's collect().
  let scrape: StatusSnapshot | null = null
  const registry = buildRegistry(() => (scrape ??= control.snapshot()))
  if (gate !== undefined) {
    new Counter({
      name: 'statsd_admin_writes_refused_total',
      help: 'Admin writes (HTTP and console) refused: missing or wrong token, rate-limited source, writes closed',
      labelNames: ['reason'],
      registers: [registry],
      collect() {
        this.reset()
        for (const [reason, n] of Object.entries(gate.refusals)) this.inc({ reason }, n)
      },
    })
  }
  app.get('/metrics', READ, async (_req, reply) => {
    try {
      const text = await registry.metrics()
      reply.type(registry.contentType)
      return text
    } finally {
      scrape = null
    }
  })
}
