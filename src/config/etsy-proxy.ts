import { z } from 'zod'
import { adminAuthInput } from './admin-auth-schema'
import { ConfigError } from './errors'
import { etsyLog, etsyServer, type EtsyTranslation, mapServer, parseIgnoringUnknownKeys, withoutUndefined } from './etsy'
import { relaySchema } from './relay-schema'
import type { ConfigInput } from './schema'

/*
 * Translates an Etsy proxy.js 0.9 config (a config with `nodes`) into a
 * native config with `relay` set. Every key proxy.js reads keeps its
 * meaning; the relay's own settings (downPolicy, forward, ...) may sit in
 * the same file, where proxy.js ignores them.
 */

const relay = relaySchema.shape

const proxySchema = z.strictObject({
  nodes: relay.nodes,
  // proxy.js hands the whole config to the server module, which reads these.
  ...etsyServer.shape,
  mgmt_address: z.string().min(1).optional(),
  mgmt_port: z.number().int().min(0).max(65535).optional(),
  checkInterval: z.number().int().positive().optional(),
  cacheSize: z.number().int().positive().optional(),
  forkCount: z.union([z.number().int().min(0), z.literal('auto')]).optional(),
  log: etsyLog.optional(),
  // In Etsy's example config, but proxy.js reads neither.
  host: z.string().optional(),
  udp_version: z.enum(['udp4', 'udp6']).optional(),
  debug: z.boolean().optional(),
  healthCheck: relay.healthCheck,
  downPolicy: relay.downPolicy,
  holdMaxBytes: relay.holdMaxBytes,
  forward: relay.forward,
  maxDatagramBytes: relay.maxDatagramBytes,
  tcpHighWaterBytes: relay.tcpHighWaterBytes,
  // The admin token, as in an Etsy config (adminAuth.tokenFile closes the console's writes).
  adminAuth: adminAuthInput.partial().optional(),
})

export function fromEtsyProxyConfig(raw: unknown, fileName: string): EtsyTranslation {
  const warnings: string[] = []
  const proxy = parseIgnoringUnknownKeys(proxySchema, raw, fileName, warnings)
  const problems: string[] = []
  const listener = mapServer(proxy, [], problems, warnings)
  if (listener === undefined) throw new ConfigError(problems.map((p) => `${fileName}: ${p}`).join('\n'))

  if (proxy.host !== undefined) {
    warnings.push('host: ignored, as proxy.js ignores it; the relay listens on "address" (default: every interface)')
  }
  if (proxy.udp_version !== undefined) {
    warnings.push('udp_version: ignored, as proxy.js ignores it; "address_ipv6" chooses IPv6')
  }
  if (proxy.forkCount === 'auto' || (proxy.forkCount ?? 0) > 1) {
    warnings.push('forkCount: the relay runs as one process (it batches lines, so one core forwards more than proxy.js forks did)')
  }
  if (proxy.log?.backend === 'syslog') warnings.push('log.backend: syslog is not supported; logging to stderr instead')

  const config: ConfigInput = {
    listeners: [listener],
    // A relay flushes nothing.
    backends: [],
    relay: {
      nodes: proxy.nodes,
      checkIntervalMs: proxy.checkInterval,
      cacheSize: proxy.cacheSize,
      healthCheck: proxy.healthCheck,
      downPolicy: proxy.downPolicy,
      holdMaxBytes: proxy.holdMaxBytes,
      forward: proxy.forward,
      maxDatagramBytes: proxy.maxDatagramBytes,
      tcpHighWaterBytes: proxy.tcpHighWaterBytes,
    },
    // proxy.js's console listens on every interface unless told otherwise, and takes
    // `health up|down` from anyone, as Etsy's does: kept, with a warning at start-up.
    mgmt: { address: proxy.mgmt_address ?? '0.0.0.0', port: proxy.mgmt_port ?? 8126 },
    adminAuth: { openWrites: true, ...proxy.adminAuth },
    log: { level: proxy.debug === true ? 'debug' : 'info' },
  }
  return { config: withoutUndefined(config), warnings: warnings.map((w) => `${fileName}: ${w}`) }
}
