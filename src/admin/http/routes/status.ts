import type { FastifyPluginAsync } from 'fastify'
import { type AdminRoutes, READ } from '../app'
import { renderStatusPage } from '../status-page'

/** Inline script and style only; nothing may be loaded from anywhere. */
const CSP = "default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; connect-src 'self'"

export const statusPage: FastifyPluginAsync<AdminRoutes> = async (app, { control }) => {
  app.get('/', READ, async (_req, reply) => {
    reply.type('text/html; charset=utf-8').header('content-security-policy', CSP).header('cache-control', 'no-store')
    return renderStatusPage(control.snapshot())
  })
}
