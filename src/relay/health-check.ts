import http from 'node:http'
import net from 'node:net'

export type HealthCheckKind = 'mgmt' | 'http'

/**
 * One health check of a node, as proxy.js makes it ("mgmt": `health` on the
 * management console, healthy if the first answer contains "up"), or over
 * this server's admin HTTP ("http": GET /healthz answers 200). Never
 * rejects: a refusal, an error or no answer within timeoutMs is unhealthy.
 */
export function checkHealth(kind: HealthCheckKind, host: string, port: number, timeoutMs: number): Promise<boolean> {
  return kind === 'mgmt' ? checkConsole(host, port, timeoutMs) : checkHttp(host, port, timeoutMs)
}

function checkConsole(host: string, port: number, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host, port }, () => socket.write('health\r\n'))
    const done = (healthy: boolean): void => {
      socket.destroy()
      resolve(healthy)
    }
    socket.setTimeout(timeoutMs, () => done(false))
    socket.once('data', (data) => done(data.toString('latin1').includes('up')))
    socket.once('error', () => done(false))
    socket.once('close', () => done(false))
  })
}

function checkHttp(host: string, port: number, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    const request = http.get({ host, port, path: '/healthz', timeout: timeoutMs, agent: false }, (response) => {
      response.resume()
      resolve(response.statusCode === 200)
    })
    request.once('timeout', () => request.destroy(new Error('timed out')))
    request.once('error', () => resolve(false))
  })
}
