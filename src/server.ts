import { Aggregator } from './aggregate/aggregator'
import { AggregatorLoop } from './aggregate/loop'
import type { Backend } from './backends/backend'
import { createBackends } from './backends/registry'
import type { Config } from './config/schema'
import { withDefaultMaxConnections } from './ingest/connection-limit'
import { IngestCounters } from './ingest/counters'
import { type Listener, startListener } from './ingest/listener'
import { openFileLimit } from './ingest/proc-net'
import { PacketQueue } from './ingest/queue'
import type { Logger } from './log'

/** A running StatsD server: listeners -> queue -> aggregator loop -> backends. */
export class StatsdServer {
  private stopping: Promise<void> | null = null

  private constructor(
    readonly listeners: readonly Listener[],
    private readonly loop: AggregatorLoop,
    /** For the admin plane: each backend's name and stats(). */
    readonly backends: readonly Backend[],
    private readonly log: Logger,
    private readonly shutdownTimeoutMs: number,
  ) {}

  static async start(config: Config, log: Logger): Promise<StatsdServer> {
    const startedAt = Date.now()
    const counters = new IngestCounters()
    const queue = new PacketQueue(config.queue, counters)
    const aggregator = new Aggregator({ ...config, dumpMessages: config.log.dumpMessages }, log)
    const taps: ((packet: Buffer) => void)[] = []
    const backends = createBackends({ config, startupTime: Math.round(startedAt / 1000), log, tapPackets: (tap) => taps.push(tap) })
    if (taps.length > 0) queue.onPush = (packet) => taps.forEach((tap) => tap(packet))
    const loop = new AggregatorLoop(queue, aggregator, backends, counters, config.flushInterval, log)

    const listenerConfigs = withDefaultMaxConnections(config.listeners, openFileLimit(), log)
    const listeners: Listener[] = []
    try {
      for (const backend of backends) await backend.start?.()
      for (const cfg of listenerConfigs) listeners.push(await startListener(cfg, queue, counters, log))
    } catch (err) {
      // Do not leave the ones that did start bound (or a socket file behind).
      await Promise.all([...listeners.map((l) => l.close()), ...backends.map((b) => b.close())])
      throw err
    }
    loop.start(startedAt)
    log.info(
      {
        listeners: listeners.map((l) => l.description),
        maxConnections: listenerConfigs.map((l) => (l.type === 'udp' ? null : l.maxConnections ?? 'unlimited')),
        backends: backends.map((b) => b.name),
        flushInterval: config.flushInterval,
      },
      'statsd server is up',
    )
    return new StatsdServer(listeners, loop, backends, log, config.shutdownTimeoutMs)
  }

  /**
   * Stops accepting and reads what clients have already sent (within
   * shutdownTimeoutMs) while the aggregator loop keeps consuming it; then
   * processes everything queued and flushes once more to every backend.
   */
  stop(): Promise<void> {
    this.stopping ??= (async () => {
      await Promise.all(this.listeners.map((l) => l.close(this.shutdownTimeoutMs)))
      await this.loop.stop()
      await Promise.all(this.backends.map((b) => b.close()))
      for (const b of this.backends) this.log.info({ backend: b.name, ...b.stats() }, 'backend totals')
      this.log.info('statsd server stopped')
    })()
    return this.stopping
  }
}
