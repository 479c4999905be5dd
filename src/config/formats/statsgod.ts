import { hostname as osHostname } from 'node:os'
import { parseDocument } from 'yaml'
import { z } from 'zod'
import { tokenSchema } from '../auth-schema'
import { ConfigError, closestKey, formatPath, issuesToError } from '../errors'
import { configSchema, type Config, type ConfigInput } from '../schema'
import { parseGoDuration } from './go-duration'

/*
 * A statsgod config.yml (acquia/statsgod statsgod/config.go,
 * example.config.yml), read as it is and translated into the native
 * config, with statsgod's defaults. Unknown keys are warnings (statsgod
 * ignored them too); a wrong type is an error naming the key. Where
 * statsgod silently did something risky (an unknown service.auth meant no
 * auth), this is an error instead.
 */

const str = (fallback: string) => z.string().default(fallback)
const bool = (fallback: boolean) => z.boolean().default(fallback)
const port = (fallback: number) => z.number().int().min(0).max(65535).default(fallback)
const duration = (fallback: string) =>
  z
    .union([z.string(), z.number()])
    .default(fallback)
    // A bare number is nanoseconds, as Go's YAML decoder reads it into a time.Duration.
    .transform((value, ctx) => {
      const ms = typeof value === 'number' ? value / 1e6 : parseGoDuration(value)
      if (ms === null || !(ms >= 1)) {
        ctx.addIssue({ code: 'custom', message: `must be a duration of at least 1ms such as "10s" or "500ms" (found ${JSON.stringify(value)})` })
        return z.NEVER
      }
      return Math.round(ms)
    })
const section = <T extends z.ZodRawShape>(shape: T) => z.object(shape).prefault({} as never)
const typeNames = (defaults: [string, string, string, string, string]) =>
  section({
    counters: str(defaults[0]),
    gauges: str(defaults[1]),
    rates: str(defaults[2]),
    sets: str(defaults[3]),
    timers: str(defaults[4]),
  })

const statsgodSchema = z.object({
  service: section({
    name: str('statsgod'),
    debug: bool(false),
    auth: z.enum(['none', 'token']).default('none'),
    tokens: z.record(tokenSchema, z.boolean()).default({ 'token-name': false }),
    hostname: str(''),
  }),
  connection: section({
    tcp: section({ enabled: bool(true), host: str('127.0.0.1'), port: port(8125) }),
    udp: section({ enabled: bool(true), host: str('127.0.0.1'), port: port(8126), maxpacket: z.number().int().positive().default(1024) }),
    unix: section({ enabled: bool(true), file: str('/var/run/statsgod/statsgod.sock') }),
  }),
  relay: section({
    type: z.enum(['carbon', 'mock']).default('carbon'),
    concurrency: z.number().int().positive().default(1),
    timeout: duration('30s'),
    flush: duration('10s'),
  }),
  carbon: section({ host: str('127.0.0.1'), port: port(2003) }),
  namespace: section({
    prefix: str('stats'),
    prefixes: typeNames(['counts', 'gauges', 'rates', 'sets', 'timers']),
    suffix: str(''),
    suffixes: typeNames(['', '', '', '', '']),
  }),
  stats: section({
    // statsgod applies its default only to an empty list.
    percentile: z
      .array(z.number().gt(0).lte(100))
      .default([80])
      .transform((list) => (list.length > 0 ? list : [80])),
  }),
  debug: section({ verbose: bool(false), receipt: bool(false), profile: bool(false), relay: bool(false) }),
})

type StatsgodConfig = z.output<typeof statsgodSchema>

/** Reads statsgod's config.yml text into a validated native config. */
export function fromStatsgodConfig(text: string, path: string): { config: Config; warnings: string[] } {
  const doc = parseDocument(text, { prettyErrors: true, uniqueKeys: true })
  if (doc.errors.length > 0) {
    throw new ConfigError(doc.errors.map((e) => `${path}: not valid YAML: ${e.message.split('\n')[0]}`).join('\n'))
  }
  const raw = withoutNulls(doc.toJS() ?? {})
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    throw new ConfigError(`${path}: a statsgod config must be a YAML mapping (service:, connection:, ...)`)
  }
  const parsed = statsgodSchema.safeParse(raw, { reportInput: true })
  if (!parsed.success) throw issuesToError(path, statsgodSchema, parsed.error.issues)
  const sg = parsed.data
  const warnings = [...unknownKeys(raw, statsgodSchema, []).map((w) => `${path}: ${w}`), ...ineffective(sg, path)]

  const native = configSchema.safeParse(translate(sg, path), { reportInput: true })
  if (!native.success) {
    // Only reachable if the translation produced something invalid: say which names are meant.
    const error = issuesToError(path, configSchema, native.error.issues)
    throw new ConfigError(`${error.message}\n${path}: (the names above are native config keys the statsgod settings were translated into)`)
  }
  return { config: native.data, warnings }
}

function translate(sg: StatsgodConfig, path: string): ConfigInput {
  const { tcp, udp, unix } = sg.connection
  const auth = sg.service.auth
  const listeners: NonNullable<ConfigInput['listeners']> = []
  // statsgod's empty host listens on every interface.
  if (tcp.enabled) listeners.push({ type: 'tcp', address: tcp.host || '0.0.0.0', port: tcp.port, auth })
  if (udp.enabled) listeners.push({ type: 'udp', address: udp.host || '0.0.0.0', port: udp.port, auth })
  // statsgod creates its socket under umask 0011: other users may connect.
  if (unix.enabled) listeners.push({ type: 'unix', path: unix.file, mode: '766', auth })
  if (listeners.length === 0) {
    throw new ConfigError(`${path}: connection: tcp, udp and unix are all disabled; enable at least one`)
  }
  return {
    listeners,
    backends: [
      sg.relay.type === 'carbon'
        ? { type: 'graphite', host: sg.carbon.host, port: sg.carbon.port, timeoutMs: sg.relay.timeout, statsgodNamespace: sg.namespace }
        : { type: 'console' },
    ],
    flushInterval: sg.relay.flush,
    percentThreshold: sg.stats.percentile,
    timerStatistics: 'statsgod',
    // statsgod sends and forgets every key at each flush.
    deleteIdleStats: true,
    // Where statsgod put its own figures (debug.relay): statsgod.<hostname>.
    prefixStats: `statsgod.${graphiteHostname(sg.service.hostname)}`,
    auth: { tokens: sg.service.tokens },
    log: { level: sg.debug.verbose ? 'debug' : 'info', dumpMessages: sg.debug.receipt },
  }
}

/** statsgod's hostname for metric names: os.Hostname(), every character outside [a-zA-Z0-9] as "-". */
function graphiteHostname(configured: string): string {
  let name = configured
  if (name === '') {
    try {
      name = osHostname()
    } catch {
      name = 'unknown'
    }
  }
  return name.replace(/[^a-zA-Z0-9]/g, '-') || 'unknown'
}

function ineffective(sg: StatsgodConfig, path: string): string[] {
  const warnings: string[] = []
  if (sg.relay.concurrency !== 1) {
    warnings.push(`${path}: relay.concurrency: ignored (one aggregator serves every key; statsgod split keys across relays)`)
  }
  if (sg.debug.profile) warnings.push(`${path}: debug.profile: ignored (no pprof here; use node --cpu-prof)`)
  if (sg.service.auth === 'token' && !Object.values(sg.service.tokens).some((v) => v)) {
    warnings.push(`${path}: service.auth is "token" but service.tokens has no valid (true) token: every line will be refused`)
  }
  return warnings
}

/** YAML `key:` with nothing after it is null; statsgod (Go) reads that as "not set". */
function withoutNulls(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(withoutNulls)
  if (typeof value !== 'object' || value === null) return value
  const out: Record<string, unknown> = {}
  for (const [key, v] of Object.entries(value)) if (v !== null) out[key] = withoutNulls(v)
  return out
}

/** Keys the schema does not know, as warnings with a "did you mean" where one is close. */
function unknownKeys(value: unknown, schema: z.core.$ZodType, path: string[]): string[] {
  let s = schema
  while (s instanceof z.ZodDefault || s instanceof z.ZodPrefault || s instanceof z.ZodPipe) s = s instanceof z.ZodPipe ? s.in : s.unwrap()
  if (!(s instanceof z.ZodObject) || typeof value !== 'object' || value === null || Array.isArray(value)) return []
  const shape: Record<string, z.core.$ZodType> = s.shape
  const known = Object.keys(shape)
  return Object.entries(value).flatMap(([key, v]) => {
    if (Object.hasOwn(shape, key)) return unknownKeys(v, shape[key]!, [...path, key])
    const suggestion = closestKey(key, known)
    const hint = suggestion === undefined ? '' : ` (did you mean "${suggestion}"?)`
    return [`${formatPath([...path, key])}: unknown key, ignored${hint}`]
  })
}
