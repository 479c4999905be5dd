import dgram from 'node:dgram'
import { once } from 'node:events'
import { mkdtempSync, rmSync } from 'node:fs'
import net from 'node:net'
import os from 'node:os'
import path from 'node:path'
import { setImmediate as nextTurn } from 'node:timers/promises'
import type { Test } from 'tap'

/* Loopback clients and probes shared by the network tests. */

/** `promise`, or a rejection naming `what` once `ms` have passed. */
export async function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} took longer than ${ms} ms`)), ms)
  })
  try {
    return await Promise.race([promise, timeout])
  } finally {
    clearTimeout(timer)
  }
}

/** Polls `cond` once per event-loop turn, for things that emit no event; fails after 5 s. */
export async function waitFor(cond: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 5_000
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await nextTurn()
  }
}

/** Sends each payload as one datagram and waits until the kernel has taken them all. */
export async function sendUdp(target: { host: string; port: number }, payloads: (string | Buffer)[]): Promise<void> {
  const socket = dgram.createSocket(net.isIPv6(target.host) ? 'udp6' : 'udp4')
  try {
    for (const payload of payloads) {
      await new Promise<void>((resolve, reject) =>
        socket.send(payload, target.port, target.host, (err) => (err ? reject(err) : resolve())),
      )
    }
  } finally {
    socket.close()
  }
}

/** Writes the chunks on one stream connection, ends it, and waits until the server has closed its side. */
export async function sendStream(target: { host: string; port: number } | string, chunks: (string | Buffer)[]): Promise<void> {
  const socket = typeof target === 'string' ? net.createConnection(target) : net.createConnection(target.port, target.host)
  await once(socket, 'connect')
  for (const chunk of chunks) {
    if (!socket.write(chunk)) await once(socket, 'drain')
  }
  socket.end()
  socket.resume()
  await once(socket, 'close')
}

/** Why ::1 cannot be used here (a tap skip reason), or false when it can. */
export async function ipv6Unavailable(): Promise<string | false> {
  const probe = dgram.createSocket('udp6')
  try {
    await new Promise<void>((resolve, reject) => {
      probe.once('error', reject)
      probe.bind(0, '::1', resolve)
    })
    return false
  } catch (err) {
    return `cannot bind ::1 here: ${(err as Error).message}`
  } finally {
    probe.close()
  }
}

/** A temp dir removed after the test: unix socket paths must fit in 108 bytes, and tap's fixture dirs are too deep. */
export function shortTempDir(t: Test): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'statsd-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  return dir
}
