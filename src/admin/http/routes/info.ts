import type { FastifyPluginAsync } from 'fastify'
import { type AdminRoutes, READ } from '../app'

/** Who is running, from what, and where it listens and sends. */
export const infoRoutes: FastifyPluginAsync<AdminRoutes> = async (app, { control }) => {
  app.get('/info', READ, async () => {
    const s = control.snapshot()
    const { info } = s
    return {
      name: info.name,
      version: info.version,
      commit: info.commit,
      node: info.node,
      pid: info.pid,
      startedAt: new Date(info.startedAt).toISOString(),
      uptimeSeconds: s.uptimeS,
      config: { source: info.configSource, format: info.configFormat },
      flushIntervalMs: info.flushIntervalMs,
      health: s.health,
      ready: s.ready,
      listeners: s.listeners,
      backends: s.backends.map(({ etsyStatus: _, ...b }) => ({
        ...b,
        lastSuccess: isoOrNull(b.lastSuccess),
        lastFailure: isoOrNull(b.lastFailure),
      })),
    }
  })
}

function isoOrNull(ms: number): string | null {
  return ms > 0 ? new Date(ms).toISOString() : null
}
