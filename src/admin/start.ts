import type net from 'node:net'
import type { FastifyBaseLogger } from 'fastify'
import type { AdminAuthConfig } from '../config/admin-auth-schema'
import { hostPort } from '../core/host-port'
import type { ServerControl } from '../core/server-control'
import { isLoopback, WriteGate } from './auth/write-gate'
import { ConsoleServer } from './console/console-server'
import { buildAdminApp } from './http/app'

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

export interface AdminPlane {
  /** "http 127.0.0.1:8127", "mgmt 127.0.0.1:8126", for the start-up log. */
  readonly descriptions: string[]
  /** SIGHUP: the new admin token (or none) for both servers. */
  reload(settings: AdminAuthConfig): void
  close(): Promise<void>
}

export async function startAdminPlane(
  endpoints: { admin: AdminEndpoint | false; mgmt: AdminEndpoint | false; adminAuth: AdminAuthConfig },
  control: ServerControl,
  log: FastifyBaseLogger,
): Promise<AdminPlane> {
  const descriptions: string[] = []
  const closers: (() => Promise<void>)[] = []
  const gate = new WriteGate(endpoints.adminAuth, log.child({ component: 'admin-auth' }))
  warnAboutWrites(endpoints, gate, log)

  if (endpoints.admin !== false) {
    const { address, port } = endpoints.admin
    const app = buildAdminApp({
      control,
      logger: log.child({ component: 'admin-http' }, { level: 'warn' }),
      writes: { gate, boundAddress: address },
    })
    try {
      await app.listen({ host: address, port })
      const bound = app.server.address() as net.AddressInfo
      descriptions.push(`http ${hostPort(bound.address, bound.port)}`)
      closers.push(() => app.close())
    } catch (err) {
      log.error({ err, address: hostPort(address, port) }, 'admin HTTP server not started; running without it')
      await app.close()
    }
  }

  if (endpoints.mgmt !== false) {
    const { address, port } = endpoints.mgmt
    const server = new ConsoleServer(control, log.child({ component: 'mgmt' }), { gate, boundAddress: address })
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
function warnAboutWrites(
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
