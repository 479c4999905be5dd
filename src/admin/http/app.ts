import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify'
import type { ServerControl } from '../../core/server-control'
import { healthRoutes } from './routes/health'
import { infoRoutes } from './routes/info'
import { metricsRoutes } from './routes/metrics'
import { statusPage } from './routes/status'

/*
 * The admin HTTP API. It shares the process with ingest, so every limit here
 * is about not letting a slow or hostile client hold resources: small bodies,
 * short timeouts, few connections. Handlers only read ServerControl.
 */

/** Idle or slow clients are cut off after this long. */
export const ADMIN_TIMEOUT_MS = 10_000
const BODY_LIMIT_BYTES = 1024
const MAX_CONNECTIONS = 64

export interface AdminOptions {
  control: ServerControl
  logger?: FastifyBaseLogger
}

export function buildAdminApp({ control, logger }: AdminOptions): FastifyInstance {
  const app = Fastify({
    ...(logger !== undefined ? { loggerInstance: logger } : { logger: false }),
    bodyLimit: BODY_LIMIT_BYTES,
    connectionTimeout: ADMIN_TIMEOUT_MS,
    requestTimeout: ADMIN_TIMEOUT_MS,
    keepAliveTimeout: 5_000,
    maxRequestsPerSocket: 1000,
    return503OnClosing: true,
  })
  app.server.maxConnections = MAX_CONNECTIONS
  app.server.headersTimeout = ADMIN_TIMEOUT_MS / 2
  app.register(healthRoutes, { control })
  app.register(infoRoutes, { control })
  app.register(metricsRoutes, { control })
  app.register(statusPage, { control })
  return app
}

export type AdminRoutes = { control: ServerControl }
