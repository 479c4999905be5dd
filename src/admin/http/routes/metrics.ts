import type { FastifyInstance, FastifyPluginAsync } from 'fastify'
import { Counter, type Registry } from 'prom-client'
import type { WriteGate } from '../../auth/write-gate'
import { type AdminRoutes, READ } from '../app'
import { buildRegistry } from '../prometheus'

export const metricsRoutes: FastifyPluginAsync<AdminRoutes> = async (app, { control, gate }) => {
  serveMetrics(app, (current) => withRefusals(buildRegistry(current), gate), () => control.snapshot())
}

/** GET /metrics from the registry `build` makes; its collectors share one snapshot per scrape. */
export function serveMetrics<S>(app: FastifyInstance, build: (current: () => S) => Registry, snapshot: () => S): void {
  let scrape: S | null = null
  const registry = build(() => (scrape ??= snapshot()))
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

/** The admin writes the gate refused, by reason (the server's and the relay's registries). */
export function withRefusals(registry: Registry, gate: WriteGate | undefined): Registry {
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
  return registry
}
