import { readFileSync } from 'node:fs'
import path from 'node:path'
import { ServerProcess } from '../test/helpers/server-process'
import type { Options } from './options'
import type { Target } from './senders'

/** The server the harness drives: one it started (and stops), or one already running. */
export interface ServerUnderTest {
  target: Target
  pid: number | undefined
  flushIntervalMs: number
  /** When its flush schedule started (ms), if known: flush lag is measured from it. */
  startedAt: number | undefined
  /** Log lines the server wrote at warn level or above (only for a server the harness started). */
  warnings(): string[]
  /** Resolves with a reason if the server exits before `stop` is called. */
  died: Promise<string>
  stop(): Promise<void>
}

type JsonConfig = Record<string, unknown> & { backends?: Record<string, unknown>[]; flushInterval?: number }

/** The config the harness starts the server with when given none: every listener kind, Graphite to the harness. */
function generatedConfig(dir: string, graphitePort: number, options: Pick<Options, 'flushIntervalMs' | 'ramp' | 'token'>): object {
  // With --auth-token, every listener wants statsgod-style tokens and knows this one.
  const auth = options.token === undefined ? {} : { auth: 'token' }
  return {
    listeners: [
      { type: 'udp', address: '127.0.0.1', port: 0, ...auth },
      { type: 'tcp', address: '127.0.0.1', port: 0, ...auth },
      { type: 'unix', path: path.join(dir, 'statsd.sock'), ...auth },
    ],
    ...(options.token === undefined ? {} : { auth: { tokens: { [options.token]: true } } }),
    backends: [{ type: 'graphite', host: '127.0.0.1', port: graphitePort }],
    flushInterval: options.flushIntervalMs,
    // A ramp uses fresh keys at each step: without these every old key would still be flushed. Gauges
    // stay: a deleted gauge would start again from 0 and break the delta gauges' totals.
    ...(options.ramp ? { deleteCounters: true, deleteTimers: true, deleteSets: true } : {}),
    log: { level: 'info' },
  }
}

/** A JSON config with its Graphite backends aimed at the harness (one is added if it has none). */
function redirectGraphite(config: JsonConfig, graphitePort: number): JsonConfig {
  const backends = (config.backends ?? []).filter((b) => b.type !== 'graphite')
  const graphite = (config.backends ?? []).find((b) => b.type === 'graphite') ?? { type: 'graphite' }
  return { ...config, backends: [...backends, { ...graphite, host: '127.0.0.1', port: graphitePort }] }
}

export async function startServerUnderTest(options: Options, dir: string, graphitePort: number): Promise<ServerUnderTest> {
  if (options.target !== undefined) {
    return {
      target: options.target,
      pid: options.pid,
      flushIntervalMs: options.flushIntervalMs,
      startedAt: undefined,
      warnings: () => [],
      died: new Promise(() => {}),
      stop: async () => {},
    }
  }
  let config: object | string
  let fileName = 'config.json'
  let flushIntervalMs = options.flushIntervalMs
  if (options.config === undefined) {
    config = generatedConfig(dir, graphitePort, options)
  } else if (options.config.endsWith('.js')) {
    config = readFileSync(options.config, 'utf8')
    fileName = 'config.js'
  } else {
    const json = JSON.parse(readFileSync(options.config, 'utf8')) as JsonConfig
    config = redirectGraphite(json, graphitePort)
    flushIntervalMs = json.flushInterval ?? 10_000
  }
  const server = await ServerProcess.start(dir, config, fileName)
  const up = server.logged('statsd server is up')[0]
  const { udp, tcp, unix } = server.endpoints
  const loopback = (e: { host: string; port: number } | undefined) =>
    e && { host: e.host === '0.0.0.0' ? '127.0.0.1' : e.host === '::' ? '::1' : e.host, port: e.port }
  let stopping = false
  return {
    target: { udp: loopback(udp[0]), tcp: loopback(tcp[0]), unix: unix[0] },
    pid: server.pid,
    flushIntervalMs,
    startedAt: typeof up?.time === 'number' ? up.time : undefined,
    warnings: () => server.logs.filter((l) => typeof l.level === 'number' && l.level >= 40).map((l) => String(l.msg)),
    died: server.ended.then((code) => (stopping ? new Promise<string>(() => {}) : `server exited with status ${code}`)),
    stop: async () => {
      stopping = true
      await server.stop()
    },
  }
}
