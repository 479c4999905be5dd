import { type ChildProcess, spawn } from 'node:child_process'
import { EventEmitter, once } from 'node:events'
import { writeFileSync } from 'node:fs'
import path from 'node:path'
import { NODE_FLAGS } from '../../src/core/node-flags'
import { withTimeout } from './net'

const MAIN = path.resolve(__dirname, '../../src/main.js')

export interface Endpoints {
  udp: { host: string; port: number }[]
  tcp: { host: string; port: number }[]
  unix: string[]
  /** The admin HTTP server and the Etsy management console, when they run. */
  http?: { host: string; port: number }
  mgmt?: { host: string; port: number }
  /** The admin server over TLS, and its plain twin on loopback (admin.probePort). */
  https?: { host: string; port: number }
  probe?: { host: string; port: number }
}

/** The real server as a child process, started from a config file; endpoints read from its start-up log. */
export class ServerProcess {
  readonly logs: Record<string, unknown>[] = []
  private readonly logEvents = new EventEmitter()
  stdout = ''
  private readonly exit: Promise<number | null>
  private readonly up: Promise<Endpoints>
  endpoints: Endpoints = { udp: [], tcp: [], unix: [] }

  private constructor(private readonly child: ChildProcess) {
    this.exit = once(child, 'exit').then(([code]) => code as number | null)
    child.stdout!.on('data', (chunk: Buffer) => (this.stdout += chunk.toString()))
    this.up = new Promise<Endpoints>((resolve, reject) => {
      let pending = ''
      child.stderr!.on('data', (chunk: Buffer) => {
        pending += chunk.toString()
        let nl: number
        while ((nl = pending.indexOf('\n')) >= 0) {
          const entry = parseLogLine(pending.slice(0, nl))
          pending = pending.slice(nl + 1)
          this.logs.push(entry)
          this.logEvents.emit('log')
          if (entry.msg === 'statsd server is up') {
            resolve(parseEndpoints([...(entry.listeners as string[]), ...((entry.admin as string[] | undefined) ?? [])]))
          }
        }
      })
      void this.exit.then((code) => reject(new Error(`server exited (${code}) before it was up: ${JSON.stringify(this.logs)}`)))
    })
  }

  /**
   * A native config given as an object gets the admin servers on free ports unless it says otherwise.
   * `wrapper` runs the server under another command, e.g. ['prlimit', '--nofile=256', '--'].
   */
  static async start(dir: string, config: object | string, fileName = 'config.json', wrapper: string[] = []): Promise<ServerProcess> {
    const file = path.join(dir, fileName)
    const text = typeof config === 'string' ? config : JSON.stringify({ admin: { port: 0 }, mgmt: { port: 0 }, ...config })
    writeFileSync(file, text)
    // As every launcher runs it.
    const command = [...wrapper, process.execPath, ...NODE_FLAGS, MAIN, file]
    const server = new ServerProcess(spawn(command[0]!, command.slice(1), { stdio: ['ignore', 'pipe', 'pipe'], env: serverEnv() }))
    try {
      server.endpoints = await withTimeout(server.up, 10_000, 'server start')
    } catch (err) {
      server.kill()
      throw err
    }
    return server
  }

  /** SIGTERM, then the exit code (the server drains and flushes before exiting). */
  async stop(): Promise<number | null> {
    this.child.kill('SIGTERM')
    return withTimeout(this.exit, 15_000, 'server stop')
  }

  /** The exit code whenever the process ends, however long that takes (a soak watches for hours). */
  get ended(): Promise<number | null> {
    return this.exit
  }

  get pid(): number | undefined {
    return this.child.pid
  }

  kill(): void {
    this.child.kill('SIGKILL')
  }

  /** Sends a signal (SIGSTOP/SIGCONT to hold the server while the kernel queues input; SIGHUP to reload). */
  signal(signal: NodeJS.Signals): void {
    this.child.kill(signal)
  }

  /** The exit code, once the process has exited. */
  exited(): Promise<number | null> {
    return withTimeout(this.exit, 30_000, 'server exit')
  }

  /** Resolves with the (skip+1)-th log entry with this message, already logged or coming. */
  async waitForLog(msg: string, skip = 0, timeoutMs = 10_000): Promise<Record<string, unknown>> {
    const seen = this.logged(msg)[skip]
    if (seen !== undefined) return seen
    let onLog: (() => void) | undefined
    try {
      return await withTimeout(
        new Promise((resolve) => {
          onLog = () => {
            const found = this.logged(msg)[skip]
            if (found !== undefined) resolve(found)
          }
          this.logEvents.on('log', onLog)
        }),
        timeoutMs,
        `log "${msg}"`,
      )
    } finally {
      if (onLog !== undefined) this.logEvents.off('log', onLog)
    }
  }

  /** Log entries with this message. */
  logged(msg: string): Record<string, unknown>[] {
    return this.logs.filter((entry) => entry.msg === msg)
  }
}

/**
 * The server's environment: aggregation threads from STATSD_TS_WORKERS when
 * the test run sets it (npm run test:workers runs the end-to-end suites with
 * 2 and 4), one otherwise, whatever the machine's CPUs.
 */
export function serverEnv(): NodeJS.ProcessEnv {
  return { ...process.env, STATSD_TS_WORKERS: process.env.STATSD_TS_WORKERS ?? '1' }
}

/** The aggregation threads of the servers this run starts (as the run set them). */
export const WORKERS = Number(process.env.STATSD_TS_WORKERS ?? '1')

function parseLogLine(line: string): Record<string, unknown> {
  try {
    return JSON.parse(line) as Record<string, unknown>
  } catch {
    return { msg: line }
  }
}

function parseEndpoints(descriptions: string[]): Endpoints {
  const endpoints: Endpoints = { udp: [], tcp: [], unix: [] }
  for (const d of descriptions) {
    const [type, where] = [d.slice(0, d.indexOf(' ')), d.slice(d.indexOf(' ') + 1)]
    if (type === 'unix') {
      endpoints.unix.push(where)
      continue
    }
    const colon = where.lastIndexOf(':')
    const host = where.slice(0, colon).replace(/^\[|\]$/g, '')
    const port = Number(where.slice(colon + 1))
    if (type === 'http' || type === 'mgmt' || type === 'https' || type === 'probe') endpoints[type] = { host, port }
    else (type === 'udp' ? endpoints.udp : endpoints.tcp).push({ host, port })
  }
  return endpoints
}
