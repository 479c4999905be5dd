import { Aggregator } from './aggregate/aggregator'
import { AggregatorLoop } from './aggregate/loop'
import type { Backend } from './backends/backend'
import { createBackends } from './backends/registry'
import { restartOnlyChanges, withReloadedSettings } from './config/reloadable'
import type { Config } from './config/schema'
import { isStream, withDefaultMaxConnections } from './ingest/connection-limit'
import { IngestCounters } from './ingest/counters'
import { type Listener, startListener } from './ingest/listener'
import { openFileLimit } from './ingest/proc-net'
import { PacketQueue } from './ingest/queue'
import { type Logger, setLogLevel } from './log'
import { forEachDatagram } from './parse/packets'

/** A running StatsD server: listeners -> queue -> aggregator loop -> backends. */
export class StatsdServer {
  private stopping: Promise<void> | null = null

  private constructor(
    readonly listeners: readonly Listener[],
    private readonly loop: AggregatorLoop,
    /** For the admin plane: each backend's name and stats(). */
    readonly backends: readonly Backend[],
    private readonly log: Logger,
    private readonly aggregator: Aggregator,
    private config: Config,
  ) {}

  static async start(config: Config, log: Logger): Promise<StatsdServer> {
    const startedAt = Date.now()
    const counters = new IngestCounters()
    const queue = new PacketQueue(config.queue, counters)
    const aggregator = new Aggregator({ ...config, dumpMessages: config.log.dumpMessages }, log)
    const taps: ((packet: Buffer) => void)[] = []
    const backends = createBackends({ config, startupTime: Math.round(startedAt / 1000), log, tapPackets: (tap) => taps.push(tap) })
    if (taps.length > 0) queue.onPush = (packet) => forEachDatagram(packet, (datagram) => taps.forEach((tap) => tap(datagram)))
    const loop = new AggregatorLoop(queue, aggregator, backends, counters, config.flushInterval, log)

    const listenerConfigs = withDefaultMaxConnections(config.listeners, openFileLimit(), log)
    const listeners: Listener[] = []
    try {
      for (const backend of backends) await backend.start?.()
      for (const [i, cfg] of listenerConfigs.entries()) listeners.push(await startListener(cfg, queue, counters, log, i))
    } catch (err) {
      // Do not leave the ones that did start bound (or a socket file behind).
      await Promise.all([...listeners.map((l) => l.close()), ...backends.map((b) => b.close())])
      throw err
    }
    aggregator.describeListeners(listeners.map((l) => l.description))
    loop.start(startedAt)
    log.info(
      {
        listeners: listeners.map((l) => l.description),
        maxConnections: listenerConfigs.map((l) => (isStream(l) ? (l.maxConnections ?? 'unlimited') : null)),
        backends: backends.map((b) => b.name),
        flushInterval: config.flushInterval,
      },
      'statsd server is up',
    )
    if (config.listeners.some((l) => l.auth === 'token') && aggregator.validTokens === 0) {
      log.warn('listeners require tokens but no valid token is configured: every line they receive will be refused')
    }
    return new StatsdServer(listeners, loop, backends, log, aggregator, config)
  }

  /**
   * Applies a re-read config (SIGHUP): tokens, percentiles, histogram bins,
   * delete/TTL options at the next flush, the log level at once. Settings
   * that need a restart are named in the log and left as they are.
   */
  reload(next: Config): void {
    const ignored = restartOnlyChanges(this.config, next)
    if (ignored.length > 0) this.log.warn({ settings: ignored }, 'reload: these changes need a restart and were ignored')
    this.config = withReloadedSettings(this.config, next)
    setLogLevel(this.log, this.config.log.level)
    this.aggregator.reconfigure({ ...this.config, dumpMessages: this.config.log.dumpMessages })
    this.log.info('reload: new settings take effect at the next flush')
  }

  /**
   * Stops accepting and reads what clients have already sent (within
   * shutdownTimeoutMs) while the aggregator loop keeps consuming it; then
   * processes everything queued and flushes once more to every backend.
   */
  stop(): Promise<void> {
    this.stopping ??= (async () => {
      await Promise.all(this.listeners.map((l) => l.close(this.config.shutdownTimeoutMs)))
      await this.loop.stop()
      await Promise.all(this.backends.map((b) => b.close()))
      for (const b of this.backends) this.log.info({ backend: b.name, ...b.stats() }, 'backend totals')
      this.log.info('statsd server stopped')
    })()
    return this.stopping
  }
}
