import type tls from 'node:tls'
import Fastify, { type FastifyBaseLogger, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify'
import type { ServerControl } from '../../core/server-control'
import type { RefusalReason, WriteGate } from '../auth/write-gate'
import { lazySchemaCompilers } from './lazy-schema-compilers'
import { eventRoutes } from './routes/events'
import { healthRoutes } from './routes/health'
import { infoRoutes } from './routes/info'
import { metricsRoutes } from './routes/metrics'
import { statusPage } from './routes/status'

/*
 * The admin HTTP API. It shares the process with ingest, so every limit here
 * is about not letting a slow or hostile client hold resources: small bodies,
 * short timeouts, few connections. Every route says whether it reads or
 * writes; writes pass the WriteGate (a bearer token off loopback).
 */

/** Idle or slow clients are cut off after this long. */
export const ADMIN_TIMEOUT_MS = 10_000
const BODY_LIMIT_BYTES = 1024
const MAX_CONNECTIONS = 64

declare module 'fastify' {
  interface FastifyContextConfig {
    /** Reads are open to anyone who can connect; writes may need the admin token. */
    access?: 'read' | 'write'
  }
}
export const READ = { config: { access: 'read' } } as const
export const WRITE = { config: { access: 'write' } } as const

export interface AdminOptions {
  control: ServerControl
  logger?: FastifyBaseLogger
  /** Who may write, and the address the server is bound to. Without it, writes are open, as on loopback. */
  writes?: { gate: WriteGate; boundAddress: string }
  /** Serve HTTPS with these options. */
  https?: tls.TlsOptions
}

const REFUSAL_STATUS: Record<RefusalReason, number> = { missing: 401, wrong: 401, 'rate-limited': 429, closed: 403 }
const REFUSAL_MESSAGE: Record<RefusalReason, string> = {
  missing: 'this write needs the admin token: Authorization: Bearer TOKEN',
  wrong: 'wrong admin token',
  'rate-limited': 'too many failed attempts from this address; try again later',
  closed: 'writes are disabled on this address: no adminAuth token is configured',
}

export function buildAdminApp({ control, logger, writes, https }: AdminOptions): FastifyInstance {
  // Typed as the HTTP instance: routes and hooks are the same either way.
  const app = (Fastify as (options: object) => FastifyInstance)({
    ...(https !== undefined && { https }),
    ...(logger !== undefined ? { loggerInstance: logger } : { logger: false }),
    bodyLimit: BODY_LIMIT_BYTES,
    connectionTimeout: ADMIN_TIMEOUT_MS,
    requestTimeout: ADMIN_TIMEOUT_MS,
    keepAliveTimeout: 5_000,
    maxRequestsPerSocket: 1000,
    return503OnClosing: true,
    schemaController: lazySchemaCompilers,
  })
  app.server.maxConnections = MAX_CONNECTIONS
  app.server.headersTimeout = ADMIN_TIMEOUT_MS / 2
  gateWrites(app, writes)
  app.register(healthRoutes, { control })
  app.register(infoRoutes, { control })
  app.register(eventRoutes, { control })
  app.register(metricsRoutes, { control, gate: writes?.gate })
  app.register(statusPage, { control })
  return app
}

/**
 * Every route must say whether it reads or writes (one nobody classified
 * would be open by accident: the app refuses to start instead), and writes
 * pass the gate. Without `writes`, writes are open, as on loopback. The
 * server's admin app and the relay's both use it.
 */
export function gateWrites(app: FastifyInstance, writes: AdminOptions['writes']): void {
  app.addHook('onRoute', (route) => {
    if (route.config?.access === undefined) throw new Error(`admin route ${String(route.method)} ${route.url} is not classified as read or write`)
  })
  if (writes === undefined) return
  app.addHook('onRequest', async (req, reply) => {
    if (req.routeOptions.config.access !== 'write') return
    const verdict = writes.gate.check(writes.boundAddress, req.socket.remoteAddress ?? 'unknown', bearerToken(req), 'http')
    if (verdict !== 'allowed') await refuse(reply, verdict)
  })
}

function bearerToken(req: FastifyRequest): string | undefined {
  const match = /^Bearer\s+(\S+)\s*$/i.exec(req.headers.authorization ?? '')
  return match?.[1]
}

function refuse(reply: FastifyReply, reason: RefusalReason): FastifyReply {
  if (reason === 'missing' || reason === 'wrong') reply.header('www-authenticate', 'Bearer realm="statsd-ts admin"')
  return reply.code(REFUSAL_STATUS[reason]).send({ error: REFUSAL_MESSAGE[reason] })
}

export type AdminRoutes = { control: ServerControl; gate?: WriteGate | undefined }
