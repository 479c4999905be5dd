import { setTimeout as sleep } from 'node:timers/promises'
import type { FastifyInstance, FastifyPluginAsync } from 'fastify'
import type { Registry } from 'prom-client'
import { type AdminRoutes, READ } from '../app'
import { EVENT_LOOP_SAMPLE_MS } from '../event-loop-sampling'

export const metricsRoutes: FastifyPluginAsync<AdminRoutes> = async (app, { control, gate }) => {
  serveMetrics(
    app,
    (current) => {
      const prometheus = require('../prometheus') as typeof import('../prometheus')
      return prometheus.withRefusals(prometheus.buildRegistry(current), gate)
    },
    () => control.snapshot(),
  )
}

/**
 * GET /metrics from the registry `build` makes; its collectors share one
 * snapshot per scrape. The registry, and prom-client with it (a few MB
 * that stay in memory), is made at the first scrape: a server nobody
 * scrapes never loads it. The Node metrics (GC, event-loop delay) count
 * from then on; the first answer waits until the event-loop delay has
 * been sampled, rather than report an empty histogram.
 */
export function serveMetrics<S>(app: FastifyInstance, build: (current: () => S) => Registry, snapshot: () => S): void {
  let scrape: S | null = null
  let made: Promise<Registry> | undefined
  const firstRegistry = async (): Promise<Registry> => {
    const registry = build(() => (scrape ??= snapshot()))
    // The delay monitor records its first sample at its second tick.
    await sleep(EVENT_LOOP_SAMPLE_MS * 2.5)
    return registry
  }
  app.get('/metrics', READ, async (_req, reply) => {
    const registry = await (made ??= firstRegistry())
    try {
      const text = await registry.metrics()
      reply.type(registry.contentType)
      return text
    } finally {
      scrape = null
    }
  })
}
