import { z } from 'zod'
import { adminAuthInput } from './admin-auth-schema'
import { ConfigError, describeIssues, formatPath, issuesToError, noDestination } from './errors'
import { configSchema, type ConfigInput } from './schema'

/*
 * Translates an Etsy statsd 0.9 config (the object its config.js evaluates to)
 * into the native shape. Keys that mean the same thing in both formats reuse
 * the native field schemas, so they are validated identically; Etsy-only keys
 * are checked here, where the error can name the key the operator wrote.
 */

type ListenerInput = NonNullable<ConfigInput['listeners']>[number]
type BackendInput = NonNullable<ConfigInput['backends']>[number]
type EtsyConfig = z.output<typeof etsySchema>
export type EtsyServer = z.output<typeof etsyServer>

export interface EtsyTranslation {
  config: ConfigInput
  /** Settings that were accepted but have no effect here, one sentence each. */
  warnings: string[]
}

const native = configSchema.shape
const port = z.number().int().min(0).max(65535)

// fs.chmod() in Etsy's tcp server takes a number, or a string it reads as octal.
const fileMode = z.union([
  z.number().int().min(0).max(0o7777),
  z.string().regex(/^[0-7]{1,4}$/, 'must be an octal file mode such as "660"'),
])

export const etsyLog = z.strictObject({
  backend: z.enum(['stdout', 'syslog']).optional(),
  application: z.string().optional(),
  // A syslog priority in Etsy (LOG_INFO...), not a filter: it has no equivalent here.
  level: z.string().optional(),
})

export const etsyServer = z.strictObject({
  server: z.string().optional(),
  address: z.string().min(1).optional(),
  address_ipv6: z.boolean().optional(),
  port: port.optional(),
  socket: z.string().min(1).optional(),
  socket_mod: fileMode.optional(),
})

const etsySchema = z.strictObject({
  port: port.optional(),
  address: z.string().min(1).optional(),
  address_ipv6: z.boolean().optional(),
  servers: z.array(etsyServer).min(1, 'at least one server is required').optional(),

  backends: z.array(z.string()).optional(),
  // Etsy treats an empty graphiteHost like an absent one: nothing is sent.
  graphiteHost: z.string().optional(),
  graphitePort: port.optional(),
  graphitePicklePort: port.optional(),
  graphiteProtocol: z.enum(['text', 'pickle']).optional(),
  graphite: z
    .strictObject({
      legacyNamespace: z.boolean().optional(),
      globalPrefix: z.string().optional(),
      prefixCounter: z.string().optional(),
      prefixTimer: z.string().optional(),
      prefixGauge: z.string().optional(),
      prefixSet: z.string().optional(),
      globalSuffix: z.string().optional(),
    })
    .optional(),
  console: z.strictObject({ prettyprint: z.boolean().optional() }).optional(),

  flushInterval: native.flushInterval,
  /** Not Etsy's: aggregation threads (see the native config). */
  workers: native.workers,
  percentThreshold: native.percentThreshold,
  histogram: native.histogram,
  deleteIdleStats: native.deleteIdleStats,
  deleteCounters: native.deleteCounters,
  deleteTimers: native.deleteTimers,
  deleteSets: native.deleteSets,
  deleteGauges: native.deleteGauges,
  // Etsy quietly forces anything but an integer > 1 to 1; only the type is an error.
  gaugesMaxTTL: z
    .number()
    .transform((n) => (Number.isInteger(n) && n > 1 ? n : 1))
    .optional(),
  prefixStats: native.prefixStats,
  keyNameSanitize: native.keyNameSanitize,
  calculatedTimerMetrics: native.calculatedTimerMetrics,
  flush_counts: z.boolean().optional(),
  dumpMessages: z.boolean().optional(),
  debug: z.boolean().optional(),
  log: etsyLog.optional(),

  mgmt_address: z.string().min(1).optional(),
  mgmt_port: port.optional(),
  /** Not Etsy's: our admin token, so an Etsy config can close console writes too. */
  adminAuth: adminAuthInput.partial().optional(),
  // Accepted so existing files keep working; UNSUPPORTED says what is logged about them.
  title: z.union([z.string(), z.boolean()]).optional(),
  healthStatus: z.string().optional(),
  automaticConfigReload: z.boolean().optional(),
  keyFlush: z.looseObject({}).optional(),
  repeater: z.array(z.strictObject({ host: z.string().min(1), port })).optional(),
  repeaterProtocol: z.enum(['udp4', 'udp6', 'tcp']).optional(),
  debugInterval: z.number().optional(),
})

/** Etsy features we do not implement: what to tell the operator, unless the value turns the feature off. */
const UNSUPPORTED: Record<string, { warning: string; off?: (value: unknown) => boolean }> = {
  title: { warning: 'setting the process title is not supported; setting ignored', off: (v) => v === false },
  healthStatus: { warning: 'health status (management interface) is not implemented; setting ignored' },
  automaticConfigReload: {
    warning: 'automatic config reload is not implemented; restart to apply config changes',
    off: (v) => v === false,
  },
  keyFlush: { warning: 'key frequency logging is not implemented; setting ignored' },
  debugInterval: { warning: 'periodic debug dumps are not implemented; setting ignored' },
}

const SERVER_MODULE = /^(?:\.\/servers\/|\/(?:.*\/)?servers\/)?(udp|tcp)(?:\.js)?$/
const BACKEND_MODULE = /^(?:\.\/backends\/|\/(?:.*\/)?backends\/)?(graphite|console|repeater)(?:\.js)?$/
const SUPPORTED_BACKENDS = '"./backends/graphite", "./backends/console" and "./backends/repeater"'

/** Validates an Etsy statsd config and maps it onto the native config input. */
export function fromEtsyConfig(raw: unknown, fileName: string): EtsyTranslation {
  const warnings: string[] = []
  const etsy = parseIgnoringUnknownKeys(etsySchema, raw, fileName, warnings)

  const problems: string[] = []
  const listeners = mapListeners(etsy, problems, warnings)
  const backends = mapBackends(etsy, problems, warnings)
  if (problems.length > 0) throw new ConfigError(problems.map((p) => `${fileName}: ${p}`).join('\n'))

  for (const [key, { warning, off }] of Object.entries(UNSUPPORTED)) {
    const value: unknown = (etsy as Record<string, unknown>)[key]
    if (value !== undefined && off?.(value) !== true) warnings.push(`${key}: ${warning}`)
  }
  if (etsy.log?.backend === 'syslog') warnings.push('log.backend: syslog is not supported; logging to stderr instead')

  const config: ConfigInput = {
    listeners,
    backends,
    flushInterval: etsy.flushInterval,
    workers: etsy.workers,
    percentThreshold: etsy.percentThreshold,
    histogram: etsy.histogram,
    deleteIdleStats: etsy.deleteIdleStats,
    deleteCounters: etsy.deleteCounters,
    deleteTimers: etsy.deleteTimers,
    deleteSets: etsy.deleteSets,
    deleteGauges: etsy.deleteGauges,
    gaugesMaxTTL: etsy.gaugesMaxTTL,
    prefixStats: etsy.prefixStats,
    keyNameSanitize: etsy.keyNameSanitize,
    calculatedTimerMetrics: etsy.calculatedTimerMetrics,
    flushCounts: etsy.flush_counts,
    // Etsy's console listens on every interface unless told otherwise.
    mgmt: { address: etsy.mgmt_address ?? '0.0.0.0', port: etsy.mgmt_port ?? 8126 },
    // Etsy's tools send no token: without one, console writes stay open (with a warning at start-up).
    adminAuth: { openWrites: true, ...etsy.adminAuth },
    log: { level: etsy.debug === true ? 'debug' : 'info', dumpMessages: etsy.dumpMessages },
  }
  return { config: withoutUndefined(config), warnings: warnings.map((w) => `${fileName}: ${w}`) }
}

/**
 * Etsy statsd ignores keys it does not know, and real configs collect stale
 * ones (and keys read by third-party backends): each is a warning here, with
 * the did-you-mean hint in case it is a typo. A known key with a wrong value
 * is still an error.
 */
export function parseIgnoringUnknownKeys<S extends z.ZodType>(
  schema: S,
  raw: unknown,
  fileName: string,
  warnings: string[],
): z.output<S> {
  const parsed = schema.safeParse(raw, { reportInput: true })
  if (parsed.success) return parsed.data
  const unknown = parsed.error.issues.filter((issue) => issue.code === 'unrecognized_keys')
  const wrong = parsed.error.issues.filter((issue) => issue.code !== 'unrecognized_keys')
  if (wrong.length > 0) throw issuesToError(fileName, schema, wrong)
  for (const line of describeIssues(schema, unknown)) warnings.push(`${line}; ignored, as Etsy statsd does`)
  // zod reports unknown keys at every level in one pass, so without them the config is valid.
  return schema.parse(withoutKeys(raw, unknown))
}

/** A copy of `value` without the keys the issues name, leaving the caller's object alone. */
function withoutKeys(value: unknown, issues: readonly z.core.$ZodIssue[]): unknown {
  const copy: unknown = structuredClone(value)
  for (const issue of issues) {
    if (issue.code !== 'unrecognized_keys') continue
    let target: unknown = copy
    for (const step of issue.path) target = (target as Record<PropertyKey, unknown>)[step]
    for (const key of issue.keys) delete (target as Record<string, unknown>)[key]
  }
  return copy
}

function mapListeners(etsy: EtsyConfig, problems: string[], warnings: string[]): ListenerInput[] {
  if (etsy.servers === undefined) {
    return [{ type: 'udp', address: etsy.address ?? defaultAddress(etsy.address_ipv6), port: etsy.port ?? 8125 }]
  }
  // Etsy reads the top-level listening keys only when there is no servers list.
  for (const key of ['port', 'address', 'address_ipv6'] as const) {
    if (etsy[key] !== undefined) warnings.push(`${key}: ignored because "servers" is set (as in Etsy statsd)`)
  }
  const listeners: ListenerInput[] = []
  etsy.servers.forEach((server, i) => {
    const listener = mapServer(server, [`servers`, i], problems, warnings)
    if (listener !== undefined) listeners.push(listener)
  })
  return listeners
}

export function mapServer(
  server: EtsyServer,
  path: PropertyKey[],
  problems: string[],
  warnings: string[],
): ListenerInput | undefined {
  const module = server.server ?? './servers/udp'
  const kind = SERVER_MODULE.exec(module)?.[1]
  if (kind === undefined) {
    problems.push(
      `${formatPath([...path, 'server'])}: the server "${module}" is not supported; use "./servers/udp" or "./servers/tcp"`,
    )
    return undefined
  }
  const address = server.address ?? defaultAddress(server.address_ipv6)
  const port = server.port ?? 8125
  if (kind === 'udp') {
    for (const key of ['socket', 'socket_mod'] as const) {
      if (server[key] !== undefined) {
        warnings.push(`${formatPath([...path, key])}: ignored for a UDP server (as in Etsy statsd)`)
      }
    }
    return { type: 'udp', address, port }
  }
  if (server.socket !== undefined) {
    const mode = server.socket_mod === undefined ? undefined : octalMode(server.socket_mod)
    return mode === undefined ? { type: 'unix', path: server.socket } : { type: 'unix', path: server.socket, mode }
  }
  return { type: 'tcp', address, port }
}

/** 432 or 0o660 or "0660" -> "660": the native schema wants octal digits. */
function octalMode(mode: number | string): string {
  const value = typeof mode === 'number' ? mode : parseInt(mode, 8)
  return value.toString(8).padStart(3, '0')
}

/** Etsy binds to all interfaces unless told otherwise (native configs default to loopback). */
function defaultAddress(ipv6: boolean | undefined): string {
  return ipv6 === true ? '::' : '0.0.0.0'
}

function mapBackends(etsy: EtsyConfig, problems: string[], warnings: string[]): BackendInput[] {
  const backends: BackendInput[] = []
  // What each backend that Etsy loads but that sends nothing lacks.
  const sendingNothing: string[] = []
  // Etsy loads the graphite backend when no backends are listed.
  const names = etsy.backends ?? ['./backends/graphite']
  const kinds = names.map((name) => BACKEND_MODULE.exec(name)?.[1])
  names.forEach((name, i) => {
    const kind = kinds[i]
    if (kind === 'console') {
      backends.push({ type: 'console', prettyprint: etsy.console?.prettyprint ?? true })
    } else if (kind === 'graphite') {
      // Etsy's graphite backend without graphiteHost loads but sends nothing,
      // which is the same as not having it.
      const host = etsy.graphiteHost
      if (host !== undefined && host !== '') {
        const pickle = etsy.graphiteProtocol === 'pickle'
        backends.push({
          type: 'graphite',
          host,
          ...(pickle ? { protocol: 'pickle', port: etsy.graphitePicklePort ?? 2004 } : { port: etsy.graphitePort ?? 2003 }),
          ...etsy.graphite,
        })
      } else {
        sendingNothing.push(`"${name}" has no graphiteHost`)
      }
    } else if (kind === 'repeater') {
      // Like graphite without a host: loaded by Etsy, but with no target it sends nothing.
      if (etsy.repeater !== undefined && etsy.repeater.length > 0) {
        backends.push({ type: 'repeater', targets: etsy.repeater, protocol: etsy.repeaterProtocol ?? 'udp4' })
      } else {
        sendingNothing.push(`"${name}" has no repeater targets`)
      }
    } else {
      problems.push(
        `${formatPath(['backends', i])}: the backend "${name}" is not supported; supported backends are ${SUPPORTED_BACKENDS}`,
      )
    }
  })
  if (!kinds.includes('repeater')) {
    for (const key of ['repeater', 'repeaterProtocol'] as const) {
      if (etsy[key] !== undefined && !(key === 'repeater' && etsy.repeater!.length === 0)) {
        warnings.push(`${key}: ignored because "./backends/repeater" is not in backends (as in Etsy statsd)`)
      }
    }
  }
  if (backends.length === 0) warnings.push(noDestination(sendingNothing.length > 0 ? sendingNothing.join(', ') : 'backends is empty'))
  return backends
}

/** Drops keys whose value is undefined so the native schema's defaults apply to them. */
export function withoutUndefined<T extends object>(value: T): T {
  const out: Record<string, unknown> = {}
  for (const [key, v] of Object.entries(value)) {
    if (v === undefined) continue
    out[key] = isPlainRecord(v) ? withoutUndefined(v) : v
  }
  return out as T
}

function isPlainRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}
