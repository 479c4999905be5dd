import path from 'node:path'
import type { Config } from '../config/schema'
import type { RelayConfig } from '../config/relay-schema'
import { readBuildInfo } from '../core/build-info'
import { IngestCounters } from '../core/ingest-counters'
import { Health } from '../core/server-control'
import { type Listener, startListener } from '../listeners/listener'
import { openFileLimit } from '../listeners/proc-net'
import { withDefaultMaxConnections } from '../listeners/stream/connection-limit'
import type { Logger } from '../log'
import { PacketQueue } from '../queue/queue'
import type { RelayControl, RelayStatus } from './admin/relay-control'
import { startRelayAdmin } from './admin/start'
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
