import path from 'node:path'
import { startAdminPlane, type AdminPlane } from './admin/start'
import { Aggregator } from './aggregate/aggregator'
import { AggregatorLoop } from './aggregate/loop'
import type { Backend } from './backends/backend'
import { ConsoleBackend } from './backends/console'
import { GraphiteBackend } from './backends/graphite'
import type { Config } from './config/schema'
import { readBuildInfo } from './core/build-info'
import { LiveControl } from './core/live-control'
import type { ConfigFormat } from './core/server-control'
import { IngestCounters } from './ingest/counters'
import { type Listener, startListener } from './ingest/listener'
import { PacketQueue } from './ingest/queue'
import type { Logger } from './log'

/** A running StatsD server: listeners -> queue -> aggregator loop -> backends. */
export class StatsdServer {
  private stopping: Promise<void> | null = null

  private constructor(
    readonly listeners: readonly Listener[],
    private readonly loop: AggregatorLoop,
    private readonly backends: readonly Backend[],
    private readonly log: Logger,
    private readonly control: LiveControl,
    private readonly admin: AdminPlane,
  ) {}

  static async start(config: Config, log: Logger, origin: ConfigOrigin = DEFAULT_ORIGIN): Promise<StatsdServer> {
    const startedAt = Date.now()
    const counters = new IngestCounters()
    const queue = new PacketQueue(config.queue, counters)
    const aggregator = new Aggregator({ ...config, dumpMessages: config.log.dumpMessages }, log)
    const backends = createBackends(config, Math.round(startedAt / 1000), log)
    const listeners: Listener[] = []
    const control = createControl(config, origin, startedAt, aggregator, queue, backends, listeners)
    // The control stands last among the flush receivers, to record each flush for the admin plane.
    const loop = new AggregatorLoop(queue, aggregator, [...backends, control], counters, config.flushInterval, log)
    try {
      for (const cfg of config.listeners) listeners.push(await startListener(cfg, queue, counters, log))
    } catch (err) {
      // Do not leave the ones that did start bound (or a socket file behind).
      await Promise.all(listeners.map((l) => l.close()))
      throw err
    }
    loop.start(startedAt)
    control.setListening(true)
    const admin = await startAdminPlane(config, control, log)
    log.info(
      {
        listeners: listeners.map((l) => l.description),
        backends: backends.map((b) => b.name),
        admin: admin.descriptions,
        flushInterval: config.flushInterval,
      },
      'statsd server is up',
    )
    return new StatsdServer(listeners, loop, backends, log, control, admin)
  }

  /** Stops accepting, processes everything already received, flushes once more to every backend. */
  stop(): Promise<void> {
    this.stopping ??= (async () => {
      // Health checks fail first, so load balancers stop sending before the final flush.
      this.control.health.drain()
      this.control.setListening(false)
      await Promise.all(this.listeners.map((l) => l.close()))
      await this.loop.stop()
      await Promise.all(this.backends.map((b) => b.close()))
      await this.admin.close()
      await this.control.close()
      this.log.info('statsd server stopped')
    })()
    return this.stopping
  }
}

export interface ConfigOrigin {
  source: string
  format: ConfigFormat
}
const DEFAULT_ORIGIN: ConfigOrigin = { source: 'built-in default', format: 'native' }

function createControl(
  config: Config,
  origin: ConfigOrigin,
  startedAt: number,
  aggregator: Aggregator,
  queue: PacketQueue,
  backends: readonly Backend[],
  listeners: readonly Listener[],
): LiveControl {
  const build = readBuildInfo(path.resolve(__dirname, '../..'))
  return new LiveControl({
    info: {
      ...build,
      node: process.version,
      pid: process.pid,
      startedAt,
      configSource: origin.source,
      configFormat: origin.format,
      flushIntervalMs: config.flushInterval,
    },
    config,
    store: aggregator,
    queue,
    queueLimits: config.queue,
    listeners: () => listeners.map((l) => ({ description: l.description, bound: true })),
    backends: () => backends.flatMap((b) => (b.status === undefined ? [] : [b.status()])),
  })
}

function createBackends(config: Config, startupTime: number, log: Logger): Backend[] {
  return config.backends.map((cfg): Backend => {
    switch (cfg.type) {
      case 'graphite':
        return new GraphiteBackend(
          cfg,
          { prefixStats: config.prefixStats, flushCounts: config.flushCounts, sanitizeNames: !config.keyNameSanitize },
          startupTime,
          log.child({ backend: 'graphite' }),
        )
      case 'console':
        return new ConsoleBackend(cfg)
    }
  })
}
