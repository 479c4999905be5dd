import type net from 'node:net'
import type tls from 'node:tls'
import type { FastifyBaseLogger } from 'fastify'
import type { AdminAuthConfig } from '../config/admin-auth-schema'
import type { TlsServerConfig } from '../config/tls-schema'
import { reloadCertificates, tlsServerOptions } from '../core/tls-options'
import { hostPort } from '../core/host-port'
import type { ServerControl } from '../core/server-control'
import { isLoopback, WriteGate } from './auth/write-gate'
import { runCommand } from './console/commands'
import { ConsoleServer } from './console/console-server'

/*
 * Starts the admin HTTP server and the Etsy console. Neither is needed to
 * receive and deliver metrics, so one that cannot bind is logged as an error
 * and the server runs on without it, rather than losing every metric over a
 * taken debug port. Both share one WriteGate (one admin token).
 */

export interface AdminEndpoint {
  address: string
  port: number
}

export interface AdminHttpEndpoint extends AdminEndpoint {
  tls?: TlsServerConfig | undefined
  probePort?: number | undefined
}

export interface AdminPlane {
  /** "http 127.0.0.1:8127" (or "https ..."), "probe 127.0.0.1:8128", "mgmt 127.0.0.1:8126", for the start-up log. */
  readonly descriptions: string[]
  /** SIGHUP: the new admin token (or none) for both servers; the HTTPS certificates read again. */
  reload(settings: AdminAuthConfig): void
  close(): Promise<void>
}

export async function startAdminPlane(
  endpoints: { admin: AdminHttpEndpoint | false; mgmt: AdminEndpoint | false; adminAuth: AdminAuthConfig },
  control: ServerControl,
  log: FastifyBaseLogger,
): Promise<AdminPlane> {
  const descriptions: string[] = []
  const closers: (() => Promise<void>)[] = []
  const gate = new WriteGate(endpoints.adminAuth, log.child({ component: 'admin-auth' }))
  warnAboutWrites(endpoints, gate, log)

  const reloaders: (() => void)[] = []
  const startHttp = async (kind: 'http' | 'https' | 'probe', address: string, port: number, secure?: TlsServerConfig): Promise<void> => {
    // fastify and the admin routes load only when an HTTP endpoint is configured (admin: false runs without them).
    const { buildAdminApp } = require('./http/app') as typeof import('./http/app')
    const app = buildAdminApp({
      control,
      logger: log.child({ component: `admin-${kind}` }, { level: 'warn' }),
      writes: { gate, boundAddress: address },
      // Node refuses an unverified client certificate itself here: HTTPS clients are few and have no data to keep.
      ...(secure !== undefined && { https: { ...tlsServerOptions(secure), rejectUnauthorized: secure.clientCaFile !== undefined } }),
    })
    try {
      await app.listen({ host: address, port })
      const bound = app.server.address() as net.AddressInfo
      descriptions.push(`${kind} ${hostPort(bound.address, bound.port)}`)
      closers.push(() => app.close())
      if (secure !== undefined) reloaders.push(() => reloadCertificates(app.server as unknown as tls.Server, secure, log.child({ component: 'admin-https' })))
    } catch (err) {
      log.error({ err, address: hostPort(address, port) }, `admin ${kind} server not started; running without it`)
      await app.close()
    }
  }
  if (endpoints.admin !== false) {
    const { address, port, tls: secure, probePort } = endpoints.admin
    await startHttp(secure === undefined ? 'http' : 'https', address, port, secure)
    if (probePort !== undefined) await startHttp('probe', '127.0.0.1', probePort)
  }

  if (endpoints.mgmt !== false) {
    const { address, port } = endpoints.mgmt
    const server = new ConsoleServer((line) => runCommand(control, line), log.child({ component: 'mgmt' }), { gate, boundAddress: address })
    try {
      const bound = await server.listen(port, address)
      descriptions.push(`mgmt ${hostPort(bound.address, bound.port)}`)
      closers.push(() => server.close())
    } catch (err) {
      log.error({ err, address: hostPort(address, port) }, 'management console not started; running without it')
    }
  }

  return {
    descriptions,
    reload: (settings) => {
      gate.update(settings)
      for (const reload of reloaders) reload()
      warnAboutWrites(endpoints, gate, log)
    },
    close: async () => {
      await Promise.all(closers.map((close) => close()))
    },
  }
}

/**
 * Says at start-up (and reload) where writes are open to the network
 * without a token, or closed for want of one, naming the settings to change.
 */
export function warnAboutWrites(
  endpoints: { admin: AdminEndpoint | false; mgmt: AdminEndpoint | false },
  gate: WriteGate,
  log: FastifyBaseLogger,
): void {
  if (gate.hasToken) return
  for (const [name, endpoint, writes] of [
    ['admin', endpoints.admin, 'POST /health/up|down'],
    ['mgmt', endpoints.mgmt, 'delcounters, deltimers, delgauges, delsets, health up|down'],
  ] as const) {
    if (endpoint === false || isLoopback(endpoint.address)) continue
    const where = hostPort(endpoint.address, endpoint.port)
    if (gate.writesWithoutToken(endpoint.address)) {
      log.warn(
        { server: name, address: where, writes },
        `${name} writes are open to anyone who can reach ${where}: set adminAuth.tokenFile (or adminAuth.token), or bind ${name === 'mgmt' ? 'mgmt_address (mgmt.address)' : 'admin.address'} to 127.0.0.1`,
      )
    } else {
      log.info({ server: name, address: where, writes }, `${name} writes are refused on ${where}: no admin token is configured (adminAuth.tokenFile)`)
    }
  }
}
