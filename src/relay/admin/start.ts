import type net from 'node:net'
import { WriteGate } from '../../admin/auth/write-gate'
import { ConsoleServer } from '../../admin/console/console-server'
import { warnAboutWrites } from '../../admin/start'
import type { Config } from '../../config/schema'
import { hostPort } from '../../core/host-port'
import type { Logger } from '../../log'
import { relayCommands } from './console-commands'
import type { RelayControl } from './relay-control'

/** The admin HTTP and the proxy.js console; one that cannot bind is logged and left out, as for the server. */
export async function startRelayAdmin(
  config: Config,
  control: RelayControl,
  log: Logger,
): Promise<{ descriptions: string[]; close: () => Promise<void> }> {
  const descriptions: string[] = []
  const closers: (() => Promise<void>)[] = []
  // The server's rule: writes (health up|down) need the admin token off loopback.
  const gate = new WriteGate(config.adminAuth, log.child({ component: 'admin-auth' }))
  warnAboutWrites(config, gate, log)
  if (config.admin !== false) {
    // fastify loads only when the admin HTTP is on, as for the server.
    const { buildRelayAdminApp } = require('./http') as typeof import('./http')
    const app = buildRelayAdminApp(control, log.child({ component: 'admin-http' }, { level: 'warn' }), { gate, boundAddress: config.admin.address })
    try {
      await app.listen({ host: config.admin.address, port: config.admin.port })
      const bound = app.server.address() as net.AddressInfo
      descriptions.push(`http ${hostPort(bound.address, bound.port)}`)
      closers.push(() => app.close())
    } catch (err) {
      log.error({ err }, 'admin HTTP server not started; running without it')
      await app.close()
    }
  }
  if (config.mgmt !== false) {
    const server = new ConsoleServer(relayCommands(control), log.child({ component: 'mgmt' }), { gate, boundAddress: config.mgmt.address })
    try {
      const bound = await server.listen(config.mgmt.port, config.mgmt.address)
      descriptions.push(`mgmt ${hostPort(bound.address, bound.port)}`)
      closers.push(() => server.close())
    } catch (err) {
      log.error({ err }, 'management console not started; running without it')
    }
  }
  return { descriptions, close: async () => void (await Promise.all(closers.map((c) => c()))) }
}
