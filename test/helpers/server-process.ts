import { type ChildProcess, spawn } from 'node:child_process'
import { once } from 'node:events'
import { writeFileSync } from 'node:fs'
import path from 'node:path'
import { withTimeout } from './net'

const MAIN = path.resolve(__dirname, '../../src/main.js')

export interface Endpoints {
  udp: { host: string; port: number }[]
  tcp: { host: string; port: number }[]
  unix: string[]
  /** The admin HTTP server and the Etsy management console, when they run. */
  http?: { host: string; port: number }
  mgmt?: { host: string; port: number }
}

/** The real server as a child process, started from a config file; endpoints read from its start-up log. */
export class ServerProcess {
  readonly logs: Record<string, unknown>[] = []
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
          if (entry.msg === 'statsd server is up') {
            resolve(parseEndpoints([...(entry.listeners as string[]), ...((entry.admin as string[] | undefined) ?? [])]))
          }
        }
      })
      void this.exit.then((code) => reject(new Error(`server exited (${code}) before it was up: ${JSON.stringify(this.logs)}`)))
    })
  }

  /** A native config given as an object gets the admin servers on free ports unless it says otherwise. */
  static async start(dir: string, config: object | string, fileName = 'config.json'): Promise<ServerProcess> {
    const file = path.join(dir, fileName)
    const text = typeof config === 'string' ? config : JSON.stringify({ admin: { port: 0 }, mgmt: { port: 0 }, ...config })
    writeFileSync(file, text)
    const server = new ServerProcess(spawn(process.execPath, [MAIN, file], { stdio: ['ignore', 'pipe', 'pipe'] }))
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

  kill(): void {
    this.child.kill('SIGKILL')
  }

  /** Log entries with this message. */
  logged(msg: string): Record<string, unknown>[] {
    return this.logs.filter((entry) => entry.msg === msg)
  }
}

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
    if (type === 'http' || type === 'mgmt') endpoints[type] = { host, port }
    else (type === 'udp' ? endpoints.udp : endpoints.tcp).push({ host, port })
  }
  return endpoints
}
