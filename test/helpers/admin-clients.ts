import { once } from 'node:events'
import net from 'node:net'
import { withTimeout } from './net'

/* Clients for the admin plane of a running server: HTTP (fetch) and the Etsy console (one TCP connection per call). */

type Endpoint = { host: string; port: number }

export async function httpGet(admin: Endpoint, path: string, method = 'GET'): Promise<{ status: number; body: string; type: string }> {
  const res = await fetch(`http://${admin.host}:${admin.port}${path}`, { method, signal: AbortSignal.timeout(10_000) })
  return { status: res.status, body: await res.text(), type: res.headers.get('content-type') ?? '' }
}

/**
 * Sends `commands` (one per line) on a fresh console connection and returns
 * everything received until the server closes it (the last command should be
 * "quit") or `until` matches what has been received.
 */
export async function consoleSession(mgmt: Endpoint, commands: string[], until?: (text: string) => boolean): Promise<string> {
  const socket = net.createConnection(mgmt.port, mgmt.host)
  let text = ''
  const done = new Promise<void>((resolve, reject) => {
    socket.on('data', (d: Buffer) => {
      text += d.toString('latin1')
      if (until?.(text) === true) resolve()
    })
    socket.on('close', () => resolve())
    socket.on('error', reject)
  })
  try {
    await once(socket, 'connect')
    socket.write(commands.map((c) => c + '\n').join(''))
    await withTimeout(done, 10_000, `console answer to ${JSON.stringify(commands)}`)
    return text
  } finally {
    socket.destroy()
  }
}

/** Polls `probe` until it returns something other than undefined. */
export async function eventually<T>(probe: () => Promise<T | undefined>, what: string, ms = 10_000): Promise<T> {
  return withTimeout(
    (async () => {
      for (;;) {
        const value = await probe()
        if (value !== undefined) return value
        await new Promise((resolve) => setTimeout(resolve, 20))
      }
    })(),
    ms,
    what,
  )
}
