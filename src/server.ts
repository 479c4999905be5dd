import path from 'node:path'
import { startAdminPlane, type AdminPlane } from './admin/start'
import { Aggregator } from './aggregate/aggregator'
import { ShardedAggregator } from './aggregate/shards/sharded-aggregator'
import { availableCpus } from './core/available-cpus'
import { AggregatorLoop } from './flush/loop'
import type { Backend } from './backends/backend'
import { createBackends } from './backends/registry'
import { restartOnlyChanges, withReloadedSettings } from './config/reloadable'
import { redactSecrets } from './config/redact'
import type { Config } from './config/schema'
import { isStream, withDefaultMaxConnections } from './listeners/stream/connection-limit'
import { readBuildInfo } from './core/build-info'
import { LiveControl } from './core/live-control'
import type { BackendStatus, ConfigFormat } from './core/server-control'
import { IngestCounters } from './core/ingest-counters'
import { type Listener, startListener } from './listeners/listener'
import { openFileLimit } from './listeners/proc-net'
import { PacketQueue } from './queue/queue'
import { type Logger, setLogLevel } from './log'
import { forEachDatagram } from './parse/packets'

/** One Aggregator on the main thread (workers: 1), or shards on worker threads. */
type Aggregation = Aggregator | ShardedAggregator

/** A running StatsD server: listeners -> queue -> aggregator loop -> backends. */
export class StatsdServer {
  private stopping: Promise<void> | null = null

  private constructor(
    readonly listeners: readonly Listener[],
    private readonly loop: AggregatorLoop,
    private readonly backends: readonly Backend[],
    private readonly log: Logger,
    private readonly aggregator: Aggregation,
    private config: Config,
    private readonly control: LiveControl,
    private readonly admin: AdminPlane,
    /** Resolves if an aggregation thread fails: the caller stops the server and exits non-zero. */
    readonly failed: Promise<Error>,
  ) {}

  static async start(config: Config, log: Logger, origin: ConfigOrigin = DEFAULT_ORIGIN): Promise<StatsdServer> {
    const startedAt = Date.now()
    const counters = new IngestCounters()
    const queue = new PacketQueue(config.queue, counters)
    const workers = workerCount(config)
    let onFailure: (err: Error) => void = () => {}
    const failed = new Promise<Error>((resolve) => (onFailure = resolve))
    const aggregatorConfig = { ...config, dumpMessages: config.log.dumpMessages }
    const aggregator: Aggregation =
      workers.count === 1
        ? new Aggregator(aggregatorConfig, log)
        : await ShardedAggregator.start({
            workers: workers.count,
            config: aggregatorConfig,
            logConfig: config.log,
            log,
            maxPendingBytes: Math.max(1024 * 1024, Math.floor(config.queue.maxBytes / workers.count / 2)),
            onFailure,
            queueBytes: config.queue.maxBytes,
          })
    const taps: ((packet: Buffer) => void)[] = []
    const backends = createBackends({ config, startupTime: Math.round(startedAt / 1000), log, tapPackets: (tap) => taps.push(tap) })
    if (taps.length > 0) queue.onPush = (packet) => forEachDatagram(packet, (datagram) => taps.forEach((tap) => tap(datagram)))
    else if (aggregator instanceof ShardedAggregator) queue.lanes = (source) => aggregator.openLanes(source)
    const listenerConfigs = withDefaultMaxConnections(config.listeners, openFileLimit(), log)
    const listeners: Listener[] = []
    const control = createControl(config, origin, startedAt, aggregator, queue, backends, listeners)
    // The control stands last among the flush receivers, to record each flush for the admin plane.
    const loop = new AggregatorLoop(queue, aggregator, [...backends, control], counters, config.flushInterval, log)
    try {
      for (const backend of backends) await backend.start?.()
      for (const [i, cfg] of listenerConfigs.entries()) listeners.push(await startListener(cfg, queue, counters, log, i))
    } catch (err) {
      // Do not leave the ones that did start bound (or a socket file behind).
      await Promise.all([...listeners.map((l) => l.close()), ...backends.map((b) => b.close())])
      if (aggregator instanceof ShardedAggregator) await aggregator.close()
      throw err
    }
    aggregator.describeListeners(listeners.map((l) => l.description))
    loop.start(startedAt)
    control.setListening(true)
    const admin = await startAdminPlane(config, control, log)
    log.info(
      {
        listeners: listeners.map((l) => l.description),
        maxConnections: listenerConfigs.map((l) => (isStream(l) ? (l.maxConnections ?? 'unlimited') : null)),
        backends: backends.map((b) => b.name),
        admin: admin.descriptions,
        flushInterval: config.flushInterval,
        // Said with "up", not before: a start-up failure's first line must be its cause.
        workers: workers.count,
        workersFrom: workers.source,
        router: aggregator instanceof ShardedAggregator ? aggregator.routerName : 'none (one thread)',
      },
      'statsd server is up',
    )
    if (config.listeners.some((l) => l.auth === 'token') && aggregator.validTokens === 0) {
      log.warn('listeners require tokens but no valid token is configured: every line they receive will be refused')
    }
    return new StatsdServer(listeners, loop, backends, log, aggregator, config, control, admin, failed)
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
    this.admin.reload(this.config.adminAuth)
    for (const listener of this.listeners) listener.reload?.()
    this.log.info('reload: new settings take effect at the next flush')
  }

  /**
   * Stops accepting and reads what clients have already sent (within
   * shutdownTimeoutMs) while the aggregator loop keeps consuming it; then
   * processes everything queued and flushes once more to every backend.
   */
  stop(): Promise<void> {
    this.stopping ??= (async () => {
      // Health checks fail first, so load balancers stop sending before the final flush.
      this.control.health.drain()
      this.control.setListening(false)
      await Promise.all(this.listeners.map((l) => l.close(this.config.shutdownTimeoutMs)))
      await this.loop.stop()
      if (this.aggregator instanceof ShardedAggregator) await this.aggregator.close()
      await Promise.all(this.backends.map((b) => b.close()))
      for (const b of this.backends) this.log.info({ backend: b.name, ...b.stats() }, 'backend totals')
      await this.admin.close()
      await this.control.close()
      this.log.info('statsd server stopped')
    })()
    return this.stopping
  }
}

/**
 * Aggregation threads: STATSD_TS_WORKERS (for a test run or a quick try
 * without editing the config), else the config's `workers`, else the CPUs
 * this process may use.
 */
function workerCount(config: Config): { count: number; source: string } {
  const fromEnv = Number(process.env.STATSD_TS_WORKERS)
  if (Number.isInteger(fromEnv) && fromEnv >= 1) return { count: Math.min(fromEnv, 256), source: 'STATSD_TS_WORKERS' }
  if (config.workers !== undefined) return { count: config.workers, source: 'config' }
  const { cpus, source } = availableCpus()
  return { count: cpus, source }
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
  aggregator: Aggregation,
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
    config: redactSecrets(config),
    store: aggregator,
    queue,
    queueLimits: config.queue,
    listeners: () => {
      const totals = aggregator.listenerTotals()
      return listeners.map((l, i) => ({ description: l.description, bound: true, ...totals[i], ...l.status?.() }))
    },
    backends: () => backends.map(backendStatus),
  })
}

function backendStatus(backend: Backend): BackendStatus {
  const s = backend.stats()
  // "graphite 127.0.0.1:2003": the kind (what Etsy's console names it by) and where it sends.
  const space = backend.name.indexOf(' ')
  return {
    name: space < 0 ? backend.name : backend.name.slice(0, space),
    target: space < 0 ? backend.name : backend.name.slice(space + 1),
    lastSuccess: s.lastSuccess,
    lastFailure: s.lastFailure,
    flushesSent: s.delivered,
    flushesFailed: s.failedAttempts,
    flushesRetried: s.retries,
    flushesResentInPart: s.resentInPart ?? 0,
    flushesDropped: s.flushesDropped,
    undeliveredFlushes: s.flushesQueued,
    undeliveredBytes: s.bytesQueued,
    etsyStatus: backend.etsyStatus?.() ?? [],
  }
}
