import { readFileSync } from 'node:fs'
import { resolve } from 'node:path'
import { hostPort } from '../core/host-port'
import { ConfigError, formatPath, issuesToError, noDestination } from './errors'
import { fromEtsyConfig } from './etsy'
import { fromEtsyProxyConfig } from './etsy-proxy'
import { configSchema, type Config, type ConfigInput, type ListenerConfig } from './schema'

/*
 * The readers of statsgod's YAML and Etsy's config.js, loaded only for a
 * file that needs them: yaml and acorn are 2 MB of heap a JSON config never uses.
 */
/* eslint-disable @typescript-eslint/no-require-imports */
const statsgodFormat = (): typeof import('./formats/statsgod') => require('./formats/statsgod') as typeof import('./formats/statsgod')
const literals = (): typeof import('./literal') => require('./literal') as typeof import('./literal')
/* eslint-enable @typescript-eslint/no-require-imports */

export interface LoadedConfig {
  config: Config
  /** Accepted settings that have no effect, for the caller to log. */
  warnings: string[]
  /** Where the config came from: an absolute path, or 'built-in default'. */
  source: string
  format: 'native' | 'etsy' | 'statsgod'
}

/** Keys that exist only in Etsy statsd configs: any one of them marks the file as Etsy format. */
const ETSY_ONLY_KEYS = [
  'port',
  'address',
  'address_ipv6',
  'servers',
  'graphiteHost',
  'graphitePort',
  'graphitePicklePort',
  'graphiteProtocol',
  'graphite',
  'flush_counts',
  'mgmt_address',
  'mgmt_port',
  'title',
  'healthStatus',
  'dumpMessages',
  'debug',
  'debugInterval',
  'keyFlush',
  'automaticConfigReload',
  'repeater',
  'repeaterProtocol',
  'console',
]

/** Native keys with no Etsy meaning: seeing them next to Etsy keys means two formats were mixed. */
const NATIVE_ONLY_KEYS = ['listeners', 'queue', 'flushCounts']

/**
 * Loads and validates the config at `path` (native JSON, or an Etsy statsd
 * config.js), or returns the built-in default when no path is given. Every
 * problem is a ConfigError whose message is ready to show the operator.
 */
export function loadConfig(path?: string): LoadedConfig {
  if (path === undefined) return { config: configSchema.parse({}), warnings: [], source: 'built-in default', format: 'native' }
  // statsgod's config.yml: the only YAML format, so the extension tells.
  if (/\.ya?ml$/i.test(path)) return { ...statsgodFormat().fromStatsgodConfig(readSource(path), path), source: resolve(path), format: 'statsgod' }

  const raw = parseFile(readSource(path), path)
  if (!isPlainObject(raw)) {
    throw new ConfigError(`${path}: the config must be an object ({ ... }), found ${describe(raw)}`)
  }

  let input: ConfigInput | Record<string, unknown> = raw
  let warnings: string[] = []
  // proxy.js's config: `nodes` is the one key it has and Etsy's statsd lacks.
  const proxy = Object.hasOwn(raw, 'nodes')
  const etsy = proxy || isEtsyConfig(raw)
  if (proxy) {
    rejectMixedFormats(raw, path)
    const translated = fromEtsyProxyConfig(raw, path)
    input = translated.config
    warnings = translated.warnings
  } else if (etsy) {
    rejectMixedFormats(raw, path)
    const translated = fromEtsyConfig(raw, path)
    input = translated.config
    warnings = translated.warnings
  }

  const parsed = configSchema.safeParse(input, { reportInput: true })
  if (!parsed.success) {
    const error = issuesToError(path, configSchema, parsed.error.issues)
    if (!etsy) throw error
    // Only reachable if the Etsy translation produced something invalid; say which names are meant.
    throw new ConfigError(`${error.message}\n${path}: (the names above are native config keys the Etsy settings were translated into)`)
  }
  rejectDuplicateListeners(parsed.data.listeners, path, etsy ? 'servers' : 'listeners')
  // An Etsy config says which of its backends send nothing (fromEtsyConfig).
  // A relay forwards lines and flushes nothing.
  if (!etsy && parsed.data.relay === undefined && parsed.data.backends.length === 0) warnings.push(`${path}: ${noDestination('backends is empty')}`)
  return { config: parsed.data, warnings, source: resolve(path), format: etsy ? 'etsy' : 'native' }
}

function readSource(path: string): string {
  let text: string
  try {
    text = readFileSync(path, 'utf8')
  } catch (err: unknown) {
    const reason = err instanceof Error ? err.message : String(err)
    throw new ConfigError(`${path}: cannot read the config file: ${reason}`)
  }
  // Editors on Windows like to prepend a byte order mark; JSON.parse does not.
  return text.replace(/^\uFEFF/, '')
}

/** JSON first (the native format); otherwise a JavaScript object literal, as Etsy statsd reads it. */
function parseFile(text: string, path: string): unknown {
  if (text.trim() === '') throw new ConfigError(`${path}: the file is empty (write {} for the default config)`)
  try {
    return JSON.parse(text)
  } catch {
    // Not JSON. The literal parser reports syntax errors with line and column,
    // which is more useful for a broken JSON file than JSON.parse's message too.
    return literals().evaluateLiteral(text, path)
  }
}

function isEtsyConfig(raw: Record<string, unknown>): boolean {
  if (ETSY_ONLY_KEYS.some((key) => Object.hasOwn(raw, key))) return true
  const backends = raw['backends']
  return Array.isArray(backends) && backends.some((b) => typeof b === 'string')
}

function rejectMixedFormats(raw: Record<string, unknown>, path: string): void {
  const nativeKeys = NATIVE_ONLY_KEYS.filter((key) => Object.hasOwn(raw, key))
  if (nativeKeys.length === 0) return
  const etsyKeys = ETSY_ONLY_KEYS.filter((key) => Object.hasOwn(raw, key))
  const etsyEvidence = etsyKeys.length > 0 ? etsyKeys.join(', ') : 'backends given as module names'
  throw new ConfigError(
    `${path}: mixes Etsy statsd settings (${etsyEvidence}) with native settings (${nativeKeys.join(', ')}); ` +
      'use one format or the other',
  )
}

/** Two listeners on the same socket would fail at startup with EADDRINUSE; say so now, by name. */
function rejectDuplicateListeners(listeners: readonly ListenerConfig[], path: string, label: string): void {
  const seen = new Map<string, number>()
  const problems: string[] = []
  listeners.forEach((listener, i) => {
    // Port 0 asks the OS for a fresh port each time, so those never collide.
    if (!('path' in listener) && listener.port === 0) return
    const endpoint =
      'path' in listener
        ? `unix socket ${listener.path}`
        : `${listener.type} ${hostPort(listener.address, listener.port)}`
    const first = seen.get(endpoint)
    if (first === undefined) seen.set(endpoint, i)
    else problems.push(`${path}: ${formatPath([label, i])}: same ${endpoint} as ${formatPath([label, first])}`)
  })
  if (problems.length > 0) throw new ConfigError(problems.join('\n'))
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false
  const proto: unknown = Object.getPrototypeOf(value)
  return proto === Object.prototype || proto === null
}

function describe(value: unknown): string {
  if (value === null || value === undefined) return String(value)
  if (Array.isArray(value)) return 'an array'
  const type = typeof value
  return `${/^[aeiou]/.test(type) ? 'an' : 'a'} ${type}`
}
