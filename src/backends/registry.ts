import type { BackendConfig, Config } from '../config/schema'
import type { Logger } from '../log'
import type { Backend } from './backend'

/** What a backend may need from the server besides its own config. */
export interface BackendContext {
  config: Config
  /** Server start, Unix seconds. */
  startupTime: number
  log: Logger
  /** Registers a hook that sees every raw packet as a listener queues it (the repeater). */
  tapPackets(tap: (packet: Buffer) => void): void
}

/*
 * Each backend's modules (and its libraries: protobufjs and snappyjs for the
 * push backends) load only when the config names it: an idle server keeps
 * the code of the backends it uses, not of all seven.
 */
const load = {
  graphite: (): typeof import('./graphite/graphite') => require('./graphite/graphite') as typeof import('./graphite/graphite'),
  console: (): typeof import('./console/console') => require('./console/console') as typeof import('./console/console'),
  repeater: (): typeof import('./repeater/repeater') => require('./repeater/repeater') as typeof import('./repeater/repeater'),
  influxdb: (): typeof import('./influxdb/influxdb') => require('./influxdb/influxdb') as typeof import('./influxdb/influxdb'),
  prometheus: (): typeof import('./prometheus/prometheus') => require('./prometheus/prometheus') as typeof import('./prometheus/prometheus'),
  remoteWrite: (): typeof import('./remote-write/remote-write') => require('./remote-write/remote-write') as typeof import('./remote-write/remote-write'),
  otlp: (): typeof import('./otlp/otlp') => require('./otlp/otlp') as typeof import('./otlp/otlp'),
}

type Factory<T extends BackendConfig['type']> = (cfg: Extract<BackendConfig, { type: T }>, ctx: BackendContext) => Backend

/** Backend type -> factory: a new backend is a folder, a schema entry and a line here. */
const factories: { [T in BackendConfig['type']]: Factory<T> } = {
  graphite: (cfg, ctx) =>
    load.graphite().createGraphiteBackend(
      cfg,
      { prefixStats: ctx.config.prefixStats, flushCounts: ctx.config.flushCounts, sanitizeNames: !ctx.config.keyNameSanitize },
      ctx.startupTime,
      ctx.log,
    ),
  console: (cfg, ctx) => new (load.console().ConsoleBackend)(cfg, ctx.log),
  repeater: (cfg, ctx) => {
    const repeater = new (load.repeater().RepeaterBackend)(cfg, ctx.log)
    ctx.tapPackets(repeater.tap)
    return repeater
  },
  influxdb: (cfg, ctx) => new (load.influxdb().InfluxdbBackend)(cfg, ctx.config.prefixStats, ctx.log),
  prometheus: (cfg, ctx) => new (load.prometheus().PrometheusBackend)(cfg, ctx.config.prefixStats, ctx.log),
  remote_write: (cfg, ctx) => new (load.remoteWrite().RemoteWriteBackend)(cfg, ctx.config.prefixStats, ctx.log),
  otlp: (cfg, ctx) => new (load.otlp().OtlpBackend)(cfg, ctx.config.prefixStats, ctx.log),
}

/** One backend instance (with its own outbox) per configured backend, each logging under its name. */
export function createBackends(ctx: BackendContext): Backend[] {
  return ctx.config.backends.map((cfg, i) => {
    const factory = factories[cfg.type] as Factory<typeof cfg.type>
    return factory(cfg, { ...ctx, log: ctx.log.child({ backend: `${cfg.type}[${i}]` }) })
  })
}
