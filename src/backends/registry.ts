import type { BackendConfig, Config } from '../config/schema'
import type { Logger } from '../log'
import type { Backend } from './backend'
import { ConsoleBackend } from './console/console'
import { createGraphiteBackend } from './graphite/graphite'
import { InfluxdbBackend } from './influxdb/influxdb'
import { PrometheusBackend } from './prometheus/prometheus'
import { RepeaterBackend } from './repeater/repeater'

/** What a backend may need from the server besides its own config. */
export interface BackendContext {
  config: Config
  /** Server start, Unix seconds. */
  startupTime: number
  log: Logger
  /** Registers a hook that sees every raw packet as a listener queues it (the repeater). */
  tapPackets(tap: (packet: Buffer) => void): void
}

/* The push backends load protobufjs and snappyjs, and build their encoders: only when one is configured. */
const remoteWrite = (): typeof import('./remote-write/remote-write') => require('./remote-write/remote-write') as typeof import('./remote-write/remote-write')
const otlp = (): typeof import('./otlp/otlp') => require('./otlp/otlp') as typeof import('./otlp/otlp')

type Factory<T extends BackendConfig['type']> = (cfg: Extract<BackendConfig, { type: T }>, ctx: BackendContext) => Backend

/** Backend type -> factory: a new backend is a folder, a schema entry and a line here. */
const factories: { [T in BackendConfig['type']]: Factory<T> } = {
  graphite: (cfg, ctx) =>
    createGraphiteBackend(
      cfg,
      { prefixStats: ctx.config.prefixStats, flushCounts: ctx.config.flushCounts, sanitizeNames: !ctx.config.keyNameSanitize },
      ctx.startupTime,
      ctx.log,
    ),
  console: (cfg, ctx) => new ConsoleBackend(cfg, ctx.log),
  repeater: (cfg, ctx) => {
    const repeater = new RepeaterBackend(cfg, ctx.log)
    ctx.tapPackets(repeater.tap)
    return repeater
  },
  influxdb: (cfg, ctx) => new InfluxdbBackend(cfg, ctx.config.prefixStats, ctx.log),
  prometheus: (cfg, ctx) => new PrometheusBackend(cfg, ctx.config.prefixStats, ctx.log),
  remote_write: (cfg, ctx) => new (remoteWrite().RemoteWriteBackend)(cfg, ctx.config.prefixStats, ctx.log),
  otlp: (cfg, ctx) => new (otlp().OtlpBackend)(cfg, ctx.config.prefixStats, ctx.log),
}

/** One backend instance (with its own outbox) per configured backend, each logging under its name. */
export function createBackends(ctx: BackendContext): Backend[] {
  return ctx.config.backends.map((cfg, i) => {
    const factory = factories[cfg.type] as Factory<typeof cfg.type>
    return factory(cfg, { ...ctx, log: ctx.log.child({ backend: `${cfg.type}[${i}]` }) })
  })
}
