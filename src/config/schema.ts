import { z } from 'zod'

/*
 * The native configuration format (a JSON file). Every key has a default so
 * that `{}` is a complete, working config. Etsy statsd config files are
 * translated into this shape by ./etsy.ts.
 */

const port = z.number().int().min(0).max(65535)
const positiveInt = z.number().int().positive()

const streamLimits = {
  /** A line longer than this is cut, dropped and counted as a bad line. */
  maxLineBytes: positiveInt.default(64 * 1024),
  /** A client that sends nothing for this long is disconnected. */
  idleTimeoutMs: positiveInt.default(60_000),
}

const udpListener = z.strictObject({
  type: z.literal('udp'),
  address: z.string().min(1).default('127.0.0.1'),
  port: port.default(8125),
  /** SO_RCVBUF in bytes; unset keeps the OS default. */
  recvBufferSize: positiveInt.optional(),
})

const tcpListener = z.strictObject({
  type: z.literal('tcp'),
  address: z.string().min(1).default('127.0.0.1'),
  port: port.default(8125),
  ...streamLimits,
})

const unixListener = z.strictObject({
  type: z.literal('unix'),
  path: z.string().min(1),
  /** File mode of the socket, as an octal string such as "660". */
  mode: z
    .string()
    .regex(/^[0-7]{3,4}$/, 'must be an octal file mode such as "660"')
    .optional(),
  ...streamLimits,
})

const listener = z.discriminatedUnion('type', [udpListener, tcpListener, unixListener])

const graphiteBackend = z.strictObject({
  type: z.literal('graphite'),
  host: z.string().min(1),
  port: port.default(2003),
  legacyNamespace: z.boolean().default(true),
  globalPrefix: z.string().default('stats'),
  prefixCounter: z.string().default('counters'),
  prefixTimer: z.string().default('timers'),
  prefixGauge: z.string().default('gauges'),
  prefixSet: z.string().default('sets'),
  globalSuffix: z.string().optional(),
  /** Give up on a flush whose connection or write takes longer than this. */
  timeoutMs: positiveInt.default(5_000),
})

const consoleBackend = z.strictObject({
  type: z.literal('console'),
  prettyprint: z.boolean().default(false),
})

const backend = z.discriminatedUnion('type', [graphiteBackend, consoleBackend])

/** An admin endpoint (HTTP API or Etsy console): on by default on loopback, `false` turns it off. */
const adminEndpoint = (defaultPort: number) => {
  const endpoint = z.strictObject({ address: z.string().min(1).default('127.0.0.1'), port: port.default(defaultPort) })
  return z.union([z.literal(false), endpoint]).default({ address: '127.0.0.1', port: defaultPort })
}

const percentile = z
  .number()
  .refine((p) => p !== 0 && p >= -100 && p <= 100, {
    message: 'a percentile must be in [-100, 100] and not 0',
  })

const histogramBin = z.union([z.number().positive(), z.literal('inf')])

export const configSchema = z.strictObject({
  listeners: z
    .array(listener)
    .min(1, 'at least one listener is required')
    .default([{ type: 'udp', address: '127.0.0.1', port: 8125 }]),
  backends: z.array(backend).default([{ type: 'console', prettyprint: false }]),
  flushInterval: positiveInt.default(10_000),
  percentThreshold: z
    .union([percentile, z.array(percentile)])
    .transform((p) => (Array.isArray(p) ? p : [p]))
    .default([90]),
  histogram: z
    .array(z.strictObject({ metric: z.string(), bins: z.array(histogramBin) }))
    .default([]),
  flushCounts: z.boolean().default(true),
  deleteIdleStats: z.boolean().default(false),
  deleteCounters: z.boolean().optional(),
  deleteTimers: z.boolean().optional(),
  deleteSets: z.boolean().optional(),
  deleteGauges: z.boolean().optional(),
  /** Flushes a gauge is kept after its last update when gauges are deleted. */
  gaugesMaxTTL: positiveInt.default(1),
  prefixStats: z.string().min(1).default('statsd'),
  keyNameSanitize: z.boolean().default(true),
  /** Timer statistics to emit (Etsy's calculatedTimerMetrics); unset = all. */
  calculatedTimerMetrics: z.array(z.string()).optional(),
  queue: z
    .strictObject({
      /** Bytes waiting for the aggregator before new packets are dropped. */
      maxBytes: positiveInt.default(64 * 1024 * 1024),
      /** Packets waiting for the aggregator before new packets are dropped. */
      maxPackets: positiveInt.default(1_000_000),
    })
    .default({ maxBytes: 64 * 1024 * 1024, maxPackets: 1_000_000 }),
  /** The HTTP admin API and status page. */
  admin: adminEndpoint(8127),
  /** Etsy's TCP management console (Etsy's mgmt_address/mgmt_port). */
  mgmt: adminEndpoint(8126),
  log: z
    .strictObject({
      level: z.enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent']).default('info'),
      /** Human-readable logs; unset = only when stderr is a terminal. */
      pretty: z.boolean().optional(),
      /** Log every received line (debugging only: slow). */
      dumpMessages: z.boolean().default(false),
    })
    .default({ level: 'info', dumpMessages: false }),
})

/** What a config file may contain (every key optional). */
export type ConfigInput = z.input<typeof configSchema>
/** A validated config with every default filled in. */
export type Config = z.output<typeof configSchema>
export type ListenerConfig = Config['listeners'][number]
export type UdpListenerConfig = z.output<typeof udpListener>
export type TcpListenerConfig = z.output<typeof tcpListener>
export type UnixListenerConfig = z.output<typeof unixListener>
export type BackendConfig = Config['backends'][number]
export type GraphiteBackendConfig = z.output<typeof graphiteBackend>
export type ConsoleBackendConfig = z.output<typeof consoleBackend>
export type HistogramConfig = Config['histogram']
export type AdminEndpointConfig = Exclude<Config['admin'], false>
