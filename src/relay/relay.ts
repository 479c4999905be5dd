import type net from 'node:net'
import path from 'node:path'
import { ConsoleServer } from '../admin/console/console-server'
import type { Config } from '../config/schema'
import type { RelayConfig } from '../config/relay-schema'
import { readBuildInfo } from '../core/build-info'
import { hostPort } from '../core/host-port'
import { IngestCounters } from '../core/ingest-counters'
import { Health } from '../core/server-control'
import { type Listener, startListener } from '../listeners/listener'
import { openFileLimit } from '../listeners/proc-net'
import { withDefaultMaxConnections } from '../listeners/stream/connection-limit'
import type { Logger } from '../log'
import { PacketQueue } from '../queue/queue'
import { relayCommands } from './admin/console-commands'
import { buildRelayAdminApp } from './admin/http'
import type { RelayControl, RelayStatus } from './admin/relay-control'
import { HealthMonitor } from './health-monitor'
import { RelayLoop } from './relay-loop'
import { RelayNode } from './relay-node'
import { Router } from './router'

/**
 * A running relay: listeners -> queue -> router -> one batch per node ->
 * UDP or TCP to the aggregating nodes, with health checks taking nodes out
 * of the ring and back.
 */
export class StatsdRelay {
  private stopping: Promise<void> | null = null

  private constructor(
    private readonly config: Config & { relay: RelayConfig },
    private readonly listeners: readonly Listener[],
    private readonly loop: RelayLoop,
    private readonly router: Router,
    private readonly monitor: HealthMonitor,
    private readonly control: RelayControl,
    private readonly closeAdmin: () => Promise<void>,
    private readonly log: Logger,
  ) {}

  static async start(config: Config & { relay: RelayConfig }, log: Logger, configSource: string): Promise<StatsdRelay> {
    const startedAt = Date.now()
    const relay = config.relay
    const counters = new IngestCounters()
    const queue = new PacketQueue(config.queue, counters)
    let router: Router | null = null
    const nodes: RelayNode[] = relay.nodes.map((cfg) => {
      const node: RelayNode = new RelayNode(cfg, relay, {
        onLost: (lines) => (node.counters.sendFailed += lines),
        onFailure: (err) => router?.transportFailed(node, `${node.forwarder.description}: ${err.message}`),
        onDrain: () => {
          loop.schedule()
          router?.replay(node)
        },
      })
      return node
    })
    router = new Router(nodes, relay, log)
    const loop = new RelayLoop(queue, router, log)
    const monitor = new HealthMonitor(router, relay, log)
    // Every node is checked and connected before the first line is routed.
    await monitor.start()

    const listeners: Listener[] = []
    try {
      for (const [i, cfg] of withDefaultMaxConnections(config.listeners, openFileLimit(), log).entries()) {
        listeners.push(await startListener(cfg, queue, counters, log, i))
      }
    } catch (err) {
      await Promise.all(listeners.map((l) => l.close()))
      await monitor.stop()
      await Promise.all(nodes.map((n) => n.forwarder.close()))
      throw err
    }
    loop.start()

    const build = readBuildInfo(path.resolve(__dirname, '../..'))
    const health = new Health()
    const control: RelayControl = {
      health,
      config,
      startedAt,
      ringMembers: () => router.liveMembers,
      snapshot: (): RelayStatus => ({
        version: build.version,
        pid: process.pid,
        startedAt,
        uptimeS: Math.round((Date.now() - startedAt) / 1000),
        configSource,
        health: health.current,
        policy: relay.downPolicy,
        forward: relay.forward,
        received: { ...loop.totals },
        // Too long for a datagram, or (stream listeners) longer than maxLineBytes.
        oversizedLines: router.oversizedLines + counters.oversizedLines,
        queue: { packets: queue.length, bytes: queue.bytes, droppedPackets: counters.queueDroppedPackets, droppedBytes: counters.queueDroppedBytes },
        listeners: listeners.map((l) => ({ description: l.description, bound: true, ...l.status?.() })),
        nodes: nodes.map((n) => ({
          id: n.id,
          up: n.up,
          reason: n.reason,
          since: n.since,
          heldLines: n.outbox.lines,
          heldBytes: n.outbox.bytes,
          ...n.counters,
        })),
        ring: router.liveMembers,
      }),
    }
    const admin = await startRelayAdmin(config, control, log)
    log.info(
      {
        mode: 'relay',
        listeners: listeners.map((l) => l.description),
        admin: admin.descriptions,
        nodes: nodes.map((n) => ({ node: n.id, up: n.up, ...(n.up ? {} : { reason: n.reason }) })),
        downPolicy: relay.downPolicy,
        forward: relay.forward,
      },
      // The server's words, so that whatever waits for a server to come up waits for a relay too.
      'statsd server is up',
    )
    return new StatsdRelay(config, listeners, loop, router, monitor, control, admin.close, log)
  }

  /** SIGHUP: nothing of a relay's config is reloaded yet. */
  reload(): void {
    this.log.warn('reload: a relay applies config changes only on restart')
  }

  /**
   * Stops accepting, reads what clients already sent, routes all of it and
   * sends the last batches. Lines held for a node that is still down are
   * lost with the process: logged, and counted on the status page until then.
   */
  stop(): Promise<void> {
    this.stopping ??= (async () => {
      this.control.health.drain()
      await Promise.all(this.listeners.map((l) => l.close(this.config.shutdownTimeoutMs)))
      this.loop.finish()
      await this.monitor.stop()
      this.router.stop()
      const totals = this.control.snapshot().nodes
      await Promise.all(this.router.nodes.map((n) => n.forwarder.close()))
      await this.closeAdmin()
      for (const n of totals) {
        if (n.heldLines > 0) this.log.warn(n, 'node totals: the lines still held for it are lost with the relay')
        else this.log.info(n, 'node totals')
      }
      this.log.info('statsd relay stopped')
    })()
    return this.stopping
  }
}

/** The admin HTTP and the proxy.js console; one that cannot bind is logged and left out, as for the server. */
async function startRelayAdmin(
  config: Config,
  control: RelayControl,
  log: Logger,
): Promise<{ descriptions: string[]; close: () => Promise<void> }> {
  const descriptions: string[] = []
  const closers: (() => Promise<void>)[] = []
  if (config.admin !== false) {
    const app = buildRelayAdminApp(control, log.child({ component: 'admin-http' }, { level: 'warn' }))
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
    const server = new ConsoleServer(relayCommands(control), log.child({ component: 'mgmt' }))
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
