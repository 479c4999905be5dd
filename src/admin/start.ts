import type net from 'node:net'
import type { FastifyBaseLogger } from 'fastify'
import { hostPort } from '../core/host-port'
import type { ServerControl } from '../core/server-control'
import { runCommand } from './console/commands'
import { ConsoleServer } from './console/console-server'
import { buildAdminApp } from './http/app'

/*
 * Starts the admin HTTP server and the Etsy console. Neither is needed to
 * receive and deliver metrics, so one that cannot bind is logged as an error
 * and the server runs on without it, rather than losing every metric over a
 * taken debug port.
 */

export interface AdminEndpoint {
  address: string
  port: number
}

export interface AdminPlane {
  /** "http 127.0.0.1:8127", "mgmt 127.0.0.1:8126", for the start-up log. */
  readonly descriptions: string[]
  close(): Promise<void>
}

export async function startAdminPlane(
  endpoints: { admin: AdminEndpoint | false; mgmt: AdminEndpoint | false },
  control: ServerControl,
  log: FastifyBaseLogger,
): Promise<AdminPlane> {
  const descriptions: string[] = []
  const closers: (() => Promise<void>)[] = []

  if (endpoints.admin !== false) {
    const { address, port } = endpoints.admin
    const app = buildAdminApp({ control, logger: log.child({ component: 'admin-http' }, { level: 'warn' }) })
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
    const server = new ConsoleServer((line) => runCommand(control, line), log.child({ component: 'mgmt' }))
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
    close: async () => {
      await Promise.all(closers.map((close) => close()))
    },
  }
}
