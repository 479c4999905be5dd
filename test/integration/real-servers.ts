import { type ChildProcess, execFile, spawn } from 'node:child_process'
import { once } from 'node:events'
import { mkdirSync, writeFileSync } from 'node:fs'
import net from 'node:net'
import path from 'node:path'
import { promisify } from 'node:util'
import type { Test } from 'tap'

/*
 * The real servers Debian ships (graphite-carbon, influxdb, prometheus,
 * victoria-metrics), each
 * started in the test's temp directory on free loopback ports and stopped by
 * PID. A missing binary fails the test: these tests exist to run against the
 * real thing (.ci/run installs them).
 */

export const run = promisify(execFile)

/** A loopback port free right now (bound, then released). */
export async function freePort(): Promise<number> {
  const server = net.createServer()
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const { port } = server.address() as net.AddressInfo
  await new Promise((resolve) => server.close(resolve))
  return port
}

/** Starts `command`, stops it by PID (SIGTERM, then SIGKILL) at teardown; its output goes to `log`. */
function startProcess(t: Test, command: string, args: string[], logFile: string): ChildProcess {
  const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] })
  let output = ''
  const keep = (chunk: Buffer): void => {
    output += chunk.toString()
    if (output.length > 200_000) output = output.slice(-100_000)
  }
  child.stdout!.on('data', keep)
  child.stderr!.on('data', keep)
  child.on('error', (err) => t.fail(`${command} could not be started (is it installed?): ${err.message}`))
  t.teardown(async () => {
    writeFileSync(logFile, output)
    if (child.exitCode !== null || child.pid === undefined) return
    process.kill(child.pid, 'SIGCONT') // in case a test stopped it
    process.kill(child.pid, 'SIGTERM')
    const timer = setTimeout(() => child.pid !== undefined && process.kill(child.pid, 'SIGKILL'), 10_000)
    await once(child, 'exit')
    clearTimeout(timer)
  })
  return child
}

/** Polls `probe` until it returns a value (not undefined), or fails naming `what`. */
export async function eventually<T>(what: string, timeoutMs: number, probe: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + timeoutMs
  let last: unknown
  for (;;) {
    try {
      const value = await probe()
      if (value !== undefined) return value
    } catch (err) {
      last = err
    }
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms${last ? ` (last error: ${String(last)})` : ''}`)
    await new Promise((resolve) => setTimeout(resolve, 250))
  }
}

async function portOpen(port: number): Promise<true | undefined> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1')
    socket.on('connect', () => {
      socket.destroy()
      resolve(true)
    })
    socket.on('error', () => resolve(undefined))
  })
}

export interface Carbon {
  pid: number
  linePort: number
  picklePort: number
  /** Values stored for `metric` (dots -> path), as whisper-fetch reads them: [timestamp, value] with value non-null. */
  fetch(metric: string): Promise<[number, number][]>
}

/** carbon-cache writing whisper files with one-second slots. */
export async function startCarbon(t: Test, dir: string): Promise<Carbon> {
  const [linePort, picklePort, queryPort] = [await freePort(), await freePort(), await freePort()]
  const root = path.join(dir, 'carbon')
  for (const sub of ['conf', 'storage/whisper', 'log']) mkdirSync(path.join(root, sub), { recursive: true })
  const whisper = path.join(root, 'storage/whisper')
  writeFileSync(path.join(root, 'conf/storage-schemas.conf'), '[all]\npattern = .*\nretentions = 1s:2h\n')
  writeFileSync(
    path.join(root, 'conf/carbon.conf'),
    `[cache]
STORAGE_DIR = ${root}/storage/
LOCAL_DATA_DIR = ${whisper}/
CONF_DIR = ${root}/conf/
LOG_DIR = ${root}/log/
PID_DIR = ${root}/
USER =
MAX_CACHE_SIZE = inf
MAX_UPDATES_PER_SECOND = 1000000
MAX_CREATES_PER_MINUTE = 1000000
LINE_RECEIVER_INTERFACE = 127.0.0.1
LINE_RECEIVER_PORT = ${linePort}
ENABLE_UDP_LISTENER = False
PICKLE_RECEIVER_INTERFACE = 127.0.0.1
PICKLE_RECEIVER_PORT = ${picklePort}
CACHE_QUERY_INTERFACE = 127.0.0.1
CACHE_QUERY_PORT = ${queryPort}
WHISPER_AUTOFLUSH = True
WHISPER_FALLOCATE_CREATE = False
LOG_UPDATES = False
`,
  )
  const child = startProcess(
    t,
    'carbon-cache',
    [`--config=${root}/conf/carbon.conf`, `--pidfile=${root}/carbon.pid`, `--logdir=${root}/log`, '--nodaemon', 'start'],
    path.join(dir, 'carbon-cache.out'),
  )
  await eventually('carbon-cache listening', 30_000, () => portOpen(linePort))
  await eventually('carbon-cache pickle receiver listening', 10_000, () => portOpen(picklePort))
  return {
    pid: child.pid!,
    linePort,
    picklePort,
    async fetch(metric) {
      const file = path.join(whisper, ...metric.split('.')) + '.wsp'
      const { stdout } = await run('whisper-fetch', ['--json', `--from=${Math.floor(Date.now() / 1000) - 3600}`, file])
      const { start, step, values } = JSON.parse(stdout) as { start: number; step: number; values: (number | null)[] }
      return values.flatMap((v, i): [number, number][] => (v === null ? [] : [[start + i * step, v]]))
    },
  }
}

export interface Influx {
  url: string
  query(q: string, db?: string): Promise<{ results: { series?: { columns: string[]; values: unknown[][] }[]; error?: string }[] }>
}

/** influxd 1.x with its own meta, data and WAL directories. */
export async function startInfluxd(t: Test, dir: string): Promise<Influx> {
  const [httpPort, rpcPort] = [await freePort(), await freePort()]
  const root = path.join(dir, 'influxdb')
  mkdirSync(root, { recursive: true })
  const conf = path.join(root, 'influxdb.conf')
  writeFileSync(
    conf,
    `reporting-disabled = true
bind-address = "127.0.0.1:${rpcPort}"
[meta]
  dir = "${root}/meta"
[data]
  dir = "${root}/data"
  wal-dir = "${root}/wal"
  query-log-enabled = false
[http]
  bind-address = "127.0.0.1:${httpPort}"
  log-enabled = false
[monitor]
  store-enabled = false
[continuous_queries]
  enabled = false
`,
  )
  startProcess(t, 'influxd', ['run', '-config', conf], path.join(dir, 'influxd.out'))
  const url = `http://127.0.0.1:${httpPort}`
  await eventually('influxd answering /ping', 30_000, async () => ((await fetch(`${url}/ping`)).status === 204 ? true : undefined))
  return {
    url,
    async query(q, db) {
      const params = new URLSearchParams({ q, epoch: 's' })
      if (db !== undefined) params.set('db', db)
      const res = await fetch(`${url}/query`, { method: 'POST', body: params })
      return (await res.json()) as Awaited<ReturnType<Influx['query']>>
    },
  }
}

export type InstantVector = { metric: Record<string, string>; value: [number, string] }[]

/** An instant query through a Prometheus-compatible HTTP API: the result vector as [labels, value]. */
async function instantQuery(api: string, q: string, extra: Record<string, string> = {}): Promise<InstantVector> {
  const res = await fetch(`${api}/query?${new URLSearchParams({ query: q, ...extra })}`)
  const body = (await res.json()) as { status: string; data: { result: InstantVector } }
  if (body.status !== 'success') throw new Error(JSON.stringify(body))
  return body.data.result
}

export interface Prometheus {
  /** Instant query: the result vector as [labels, value]. */
  query(q: string): Promise<InstantVector>
  /** Its remote write receiver (with `remoteWriteReceiver`). */
  writeUrl: string
}

/**
 * Prometheus with its TSDB in the temp dir, scraping `target` every second,
 * or scraping nothing (null) and taking remote writes; `extra` flags added.
 */
export async function startPrometheus(t: Test, dir: string, target: string | null, extra: string[] = []): Promise<Prometheus> {
  const port = await freePort()
  const root = path.join(dir, 'prometheus')
  mkdirSync(root, { recursive: true })
  const conf = path.join(root, 'prometheus.yml')
  writeFileSync(
    conf,
    `global:
  scrape_interval: 1s
  evaluation_interval: 1s
${
      target === null
        ? ''
        : `scrape_configs:
  - job_name: statsd
    static_configs:
      - targets: ['${target}']
`
    }`,
  )
  const args = [`--config.file=${conf}`, `--storage.tsdb.path=${root}/data`, `--web.listen-address=127.0.0.1:${port}`, ...extra]
  if (target === null) args.push('--web.enable-remote-write-receiver')
  startProcess(t, 'prometheus', args, path.join(dir, 'prometheus.out'))
  const api = `http://127.0.0.1:${port}/api/v1`
  await eventually('prometheus ready', 30_000, async () => ((await fetch(`http://127.0.0.1:${port}/-/ready`)).ok ? true : undefined))
  return { query: (q) => instantQuery(api, q), writeUrl: `${api}/write` }
}

export interface VictoriaMetrics {
  writeUrl: string
  /** Makes what it buffered queryable (/internal/force_flush), then runs an instant query, uncached. */
  query(q: string): Promise<InstantVector>
}

/** Single-node VictoriaMetrics with its data in the temp dir; queries see the latest samples (-search.latencyOffset=0s). */
export async function startVictoriaMetrics(t: Test, dir: string): Promise<VictoriaMetrics> {
  const port = await freePort()
  const root = path.join(dir, 'victoria-metrics')
  mkdirSync(root, { recursive: true })
  startProcess(
    t,
    'victoria-metrics',
    [`-storageDataPath=${root}`, `-httpListenAddr=127.0.0.1:${port}`, '-search.latencyOffset=0s', '-loggerLevel=WARN'],
    path.join(dir, 'victoria-metrics.out'),
  )
  const base = `http://127.0.0.1:${port}`
  await eventually('victoria-metrics healthy', 30_000, async () => ((await fetch(`${base}/health`)).ok ? true : undefined))
  return {
    writeUrl: `${base}/api/v1/write`,
    async query(q) {
      await (await fetch(`${base}/internal/force_flush`)).arrayBuffer()
      return instantQuery(`${base}/api/v1`, q, { nocache: '1' })
    },
  }
}

export interface Relay {
  pid: number
  /** Its TLS line receiver. */
  port: number
  /** Where it writes every metric it receives (a `file` cluster). */
  outFile: string
}

/**
 * carbon-c-relay (Debian's is built with TLS) with one TLS line receiver on
 * loopback, writing what it receives to a file. `pem` holds the certificate
 * and its key.
 */
export async function startRelay(t: Test, dir: string, pem: string): Promise<Relay> {
  const port = await freePort()
  const outFile = path.join(dir, 'relay-out.txt')
  const pemFile = path.join(dir, 'relay.pem')
  writeFileSync(pemFile, pem)
  const conf = path.join(dir, 'relay.conf')
  writeFileSync(
    conf,
    `cluster out file ${outFile} ;\n` +
      `listen type linemode transport plain ssl ${pemFile} 127.0.0.1:${port} proto tcp ;\n` +
      'match * send to out stop ;\n',
  )
  const child = startProcess(t, 'carbon-c-relay', ['-f', conf], path.join(dir, 'relay.log'))
  await eventually('carbon-c-relay listening', 20_000, () => portOpen(port))
  return { pid: child.pid!, port, outFile }
}
