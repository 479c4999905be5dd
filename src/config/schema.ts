import { z } from 'zod'
import { adminAuthSchema } from './admin-auth-schema'
import { DOGSTATSD_DEFAULTS } from './dogstatsd-defaults'
import { authSchema } from './auth-schema'
import { relaySchema } from './relay-schema'
import { readableFile, tlsServerSchema } from './tls-schema'
import { statsgodNamespaceSchema } from './statsgod-namespace-schema'

/*
 * The native configuration format (a JSON file). Every key has a default so
 * that `{}` is a complete, working config. Etsy statsd config files are
 * translated into this shape by ./etsy.ts.
 */

const port = z.number().int().min(0).max(65535)
const positiveInt = z.number().int().positive()

/** "token": every line must start with a valid token (see auth); "none" (unset): trusted. */
const listenerAuth = z.enum(['none', 'token']).optional()

const streamLimits = {
  /** A line longer than this is cut, dropped and counted as a bad line. */
  maxLineBytes: positiveInt.default(64 * 1024),
  /** A client that sends nothing for this long is disconnected. */
  idleTimeoutMs: positiveInt.default(60_000),
  /** Clients served at once; more are closed at once and counted. Unset: derived from RLIMIT_NOFILE. */
  maxConnections: positiveInt.optional(),
}

const udpListener = z.strictObject({
  type: z.literal('udp'),
  address: z.string().min(1).default('127.0.0.1'),
  port: port.default(8125),
  /** SO_RCVBUF in bytes; unset keeps the OS default. */
  recvBufferSize: positiveInt.optional(),
  auth: listenerAuth,
})

const tcpListener = z.strictObject({
  type: z.literal('tcp'),
  address: z.string().min(1).default('127.0.0.1'),
  port: port.default(8125),
  ...streamLimits,
  auth: listenerAuth,
  /** Clients speak TLS (read through net.Socket: no libuv-handle fast path). */
  tls: tlsServerSchema.optional(),
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
  auth: listenerAuth,
})

const unixgramListener = z.strictObject({
  type: z.literal('unixgram'),
  path: z.string().min(1),
  mode: unixListener.shape.mode,
  recvBufferSize: udpListener.shape.recvBufferSize,
  auth: listenerAuth,
})

const listener = z.discriminatedUnion('type', [udpListener, tcpListener, unixListener, unixgramListener])

/* Backends: every one has its own outbox (src/backends/outbox.ts), tuned by these keys. */
const outboxKeys = {
  /** Undelivered bytes kept for retry; past this the oldest flushes are dropped (counted, logged). Default 16 MiB. */
  maxQueueBytes: positiveInt.optional(),
  /** Give up on one delivery attempt after this long. */
  timeoutMs: positiveInt.optional(),
  /** Wait after a failed attempt; doubles per further failure up to retryMaxMs. Defaults 500 and 30000. */
  retryInitialMs: positiveInt.optional(),
  retryMaxMs: positiveInt.optional(),
}

const graphiteBackend = z
  .strictObject({
    type: z.literal('graphite'),
    host: z.string().min(1),
    /** Default 2003, or 2004 for the pickle protocol. */
    port: port.optional(),
    /** "text" (plaintext, carbon's line receiver) or "pickle" (carbon's pickle receiver). */
    protocol: z.enum(['text', 'pickle']).optional(),
    legacyNamespace: z.boolean().default(true),
    globalPrefix: z.string().default('stats'),
    prefixCounter: z.string().default('counters'),
    prefixTimer: z.string().default('timers'),
    prefixGauge: z.string().default('gauges'),
    prefixSet: z.string().default('sets'),
    globalSuffix: z.string().optional(),
    /** Use statsgod's naming instead of Etsy's (set when a statsgod config.yml is read). */
    statsgodNamespace: statsgodNamespaceSchema.optional(),
    /** Send over TLS (carbon-c-relay's `transport plain ssl`); caFile: the CAs to trust instead of the system's. */
    tls: z.strictObject({ caFile: readableFile.optional() }).optional(),
    ...outboxKeys,
    timeoutMs: positiveInt.default(5_000),
  })
  .transform((cfg) => ({ ...cfg, port: cfg.port ?? (cfg.protocol === 'pickle' ? 2004 : 2003) }))

const consoleBackend = z.strictObject({
  type: z.literal('console'),
  prettyprint: z.boolean().default(false),
  ...outboxKeys,
})

const hostPortTarget = z.strictObject({ host: z.string().min(1), port })

const repeaterBackend = z.strictObject({
  type: z.literal('repeater'),
  /** Other statsd servers that get every received packet, raw. */
  targets: z.array(hostPortTarget).min(1, 'at least one target is required'),
  protocol: z.enum(['udp4', 'udp6', 'tcp']).default('udp4'),
  ...outboxKeys,
})

const influxdbBackend = z
  .strictObject({
    type: z.literal('influxdb'),
    url: z.url({ protocol: /^https?$/ }),
    /** InfluxDB 1.x: the database (and optional credentials). */
    database: z.string().min(1).optional(),
    username: z.string().optional(),
    password: z.string().optional(),
    /** InfluxDB 2.x: organisation, bucket and API token instead of database. */
    org: z.string().min(1).optional(),
    bucket: z.string().min(1).optional(),
    token: z.string().min(1).optional(),
    /** Largest request body; a larger flush goes as several requests. */
    batchBytes: positiveInt.default(1024 * 1024),
    /** https: PEM of the CAs to trust for the server's certificate, instead of the system's. */
    caFile: readableFile.optional(),
    ...outboxKeys,
  })
  .refine((c) => (c.database !== undefined) !== (c.bucket !== undefined || c.org !== undefined), {
    message: 'set either "database" (InfluxDB 1.x) or "org" and "bucket" (InfluxDB 2.x)',
    path: ['database'],
  })
  .refine((c) => c.database !== undefined || (c.org !== undefined && c.bucket !== undefined && c.token !== undefined), {
    message: 'InfluxDB 2.x needs "org", "bucket" and "token"',
    path: ['token'],
  })

const prometheusBackend = z.strictObject({
  type: z.literal('prometheus'),
  address: z.string().min(1).default('127.0.0.1'),
  /** statsd_exporter's port. */
  port: port.default(9102),
  path: z.string().startsWith('/').default('/metrics'),
  /** A series not updated for this long is no longer exposed. */
  expireAfterMs: positiveInt.default(300_000),
})

/* HTTP push backends (remote_write, otlp): the receiver, and what receivers that need more get. */
const httpPushKeys = {
  url: z.url({ protocol: /^https?$/ }),
  /** Extra HTTP headers (X-Scope-OrgID for Mimir and Cortex, THANOS-TENANT...). */
  headers: z.record(z.string().regex(/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/, 'must be an HTTP header name'), z.string()).default({}),
  /** Basic auth, the password read from a file (each delivery, so that it can be rotated). */
  basicAuth: z.strictObject({ username: z.string().min(1), passwordFile: z.string().min(1) }).optional(),
  /** Bearer token read from a file (each delivery). */
  bearerTokenFile: z.string().min(1).optional(),
  /** https: PEM of the CAs to trust for the receiver's certificate, instead of the system's. */
  caFile: readableFile.optional(),
}

interface HttpPushInput {
  headers: Record<string, string>
  basicAuth?: unknown
  bearerTokenFile?: string | undefined
}

/** At most one kind of auth, and no header that the backend sets itself (`own`, lower case). */
function checkHttpPush(c: HttpPushInput, ctx: z.RefinementCtx, own: readonly string[]): void {
  if (c.basicAuth !== undefined && c.bearerTokenFile !== undefined) {
    ctx.addIssue({ code: 'custom', message: 'set either "basicAuth" or "bearerTokenFile", not both', path: ['bearerTokenFile'] })
  }
  const authSet = c.basicAuth !== undefined || c.bearerTokenFile !== undefined
  for (const header of Object.keys(c.headers)) {
    const h = header.toLowerCase()
    if ([...own, 'content-type', 'content-length', 'host'].includes(h) || (h === 'authorization' && authSet)) {
      ctx.addIssue({ code: 'custom', message: 'this header is set by the backend itself', path: ['headers', header] })
    }
  }
}

const labelNameString = z.string().regex(/^[a-zA-Z_][a-zA-Z0-9_]*$/, 'must be a label name: letters, digits and "_", not starting with a digit')

const remoteWriteBackend = z
  .strictObject({
    type: z.literal('remote_write'),
    /** url: the receiver's write endpoint, e.g. http://host:8428/api/v1/write. */
    ...httpPushKeys,
    /** The instance label on every series; unset: this host's name. */
    instance: z.string().min(1).optional(),
    job: z.string().min(1).default('statsd'),
    /** Static labels on every series. */
    labels: z
      .record(labelNameString, z.string().min(1))
      .refine((l) => !Object.keys(l).some((k) => ['instance', 'job', 'le'].includes(k) || k.startsWith('__')), {
        message: 'instance and job have their own settings; le and names starting with "__" are reserved',
      })
      .default({}),
    /** Classic bucket upper bounds in seconds, per timer: the first rule whose metric is a substring of the name wins. */
    buckets: z
      .array(
        z.strictObject({
          metric: z.string(),
          buckets: z
            .array(z.number().positive())
            .min(1)
            .max(100)
            .refine((b) => b.every((v, i) => i === 0 || v > b[i - 1]!), { message: 'bounds must increase' }),
        }),
      )
      .default([]),
    /** Timers as native histograms of this schema (-4..8) instead of classic buckets; false: classic. */
    nativeHistograms: z.union([z.literal(false), z.strictObject({ schema: z.number().int().min(-4).max(8).default(3) })]).default(false),
    /** Series per request; a larger flush goes as several requests. */
    maxSeriesPerRequest: positiveInt.default(5_000),
    ...outboxKeys,
  })
  .superRefine((c, ctx) => checkHttpPush(c, ctx, ['content-encoding', 'x-prometheus-remote-write-version']))

const otlpBackend = z
  .strictObject({
    type: z.literal('otlp'),
    /** url: the collector's OTLP/HTTP metrics endpoint, e.g. http://collector:4318/v1/metrics. */
    ...httpPushKeys,
    /** Resource attribute service.instance.id; unset: this host's name. */
    instance: z.string().min(1).optional(),
    /** Resource attribute service.name. */
    serviceName: z.string().min(1).default('statsd'),
    /** More resource attributes. */
    resource: z.record(z.string().min(1), z.string()).default({}),
    /** Buckets per sign of an exponential histogram: its scale is the finest at which the interval's values fit (the SDK's default, 160). */
    maxBuckets: z.number().int().min(2).max(16_384).default(160),
    /** Data points per request; a larger flush goes as several requests. */
    maxDataPoints: positiveInt.default(5_000),
    ...outboxKeys,
  })
  .superRefine((c, ctx) => checkHttpPush(c, ctx, []))

const backend = z.discriminatedUnion('type', [
  graphiteBackend,
  consoleBackend,
  repeaterBackend,
  influxdbBackend,
  prometheusBackend,
  remoteWriteBackend,
  otlpBackend,
])

/** An admin endpoint (HTTP API or Etsy console): on by default on loopback, `false` turns it off. */
const adminEndpoint = (defaultPort: number) => {
  const endpoint = z.strictObject({ address: z.string().min(1).default('127.0.0.1'), port: port.default(defaultPort) })
  return z.union([z.literal(false), endpoint]).default({ address: '127.0.0.1', port: defaultPort })
}

/** The HTTP admin server: optionally HTTPS, with a plain HTTP twin on loopback for local probes. */
const adminHttpEndpoint = z
  .union([
    z.literal(false),
    z.strictObject({
      address: z.string().min(1).default('127.0.0.1'),
      port: port.default(8127),
      tls: tlsServerSchema.optional(),
      /** The same API over plain HTTP on 127.0.0.1 at this port (the container's HEALTHCHECK asks 8128 first). */
      probePort: port.optional(),
    }),
  ])
  .default({ address: '127.0.0.1', port: 8127 })

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
  /** After SIGTERM, how long listeners keep reading what clients already sent. */
  shutdownTimeoutMs: positiveInt.default(10_000),
  /** Whose timer statistics to compute: Etsy statsd's or statsgod's. */
  timerStatistics: z.enum(['etsy', 'statsgod']).default('etsy'),
  auth: authSchema.default({ tokens: {} }),
  /** DogStatsD events and service checks: how many of each are kept for the admin plane, in how many bytes, and how many a second are taken. */
  dogstatsd: z
    .strictObject({
      keepEvents: positiveInt.default(DOGSTATSD_DEFAULTS.keepEvents),
      keepEventBytes: positiveInt.default(DOGSTATSD_DEFAULTS.keepEventBytes),
      eventsPerSecond: positiveInt.default(DOGSTATSD_DEFAULTS.eventsPerSecond),
    })
    .default({ ...DOGSTATSD_DEFAULTS }),
  queue: z
    .strictObject({
      /** Bytes waiting for the aggregator before new packets are dropped. */
      maxBytes: positiveInt.default(64 * 1024 * 1024),
      /** Packets waiting for the aggregator before new packets are dropped. */
      maxPackets: positiveInt.default(1_000_000),
    })
    .default({ maxBytes: 64 * 1024 * 1024, maxPackets: 1_000_000 }),
  /** The HTTP admin API and status page. */
  admin: adminHttpEndpoint,
  /** Etsy's TCP management console (Etsy's mgmt_address/mgmt_port). */
  mgmt: adminEndpoint(8126),
  /** The token admin writes need on a non-loopback admin or mgmt server. */
  adminAuth: adminAuthSchema.default({ openWrites: false }),
  log: z
    .strictObject({
      level: z.enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent']).default('info'),
      /** Human-readable logs; unset = only when stderr is a terminal. */
      pretty: z.boolean().optional(),
      /** Log every received line (debugging only: slow). */
      dumpMessages: z.boolean().default(false),
    })
    .default({ level: 'info', dumpMessages: false }),
  /** Run as a relay in front of aggregating nodes instead of aggregating (see relay-schema.ts). */
  relay: relaySchema.optional(),
})

/** What a config file may contain (every key optional). */
export type ConfigInput = z.input<typeof configSchema>
/** A validated config with every default filled in. */
export type Config = z.output<typeof configSchema>
export type ListenerConfig = Config['listeners'][number]
export type UdpListenerConfig = z.output<typeof udpListener>
export type TcpListenerConfig = z.output<typeof tcpListener>
export type UnixListenerConfig = z.output<typeof unixListener>
export type UnixgramListenerConfig = z.output<typeof unixgramListener>
export type BackendConfig = Config['backends'][number]
export type GraphiteBackendConfig = z.output<typeof graphiteBackend>
export type ConsoleBackendConfig = z.output<typeof consoleBackend>
export type RepeaterBackendConfig = z.output<typeof repeaterBackend>
export type InfluxdbBackendConfig = z.output<typeof influxdbBackend>
export type PrometheusBackendConfig = z.output<typeof prometheusBackend>
export type RemoteWriteBackendConfig = z.output<typeof remoteWriteBackend>
export type OtlpBackendConfig = z.output<typeof otlpBackend>
export type HistogramConfig = Config['histogram']
export type AdminEndpointConfig = Exclude<Config['admin'], false>
