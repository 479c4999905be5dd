import { type ChildProcess, spawn } from 'node:child_process'
import dgram from 'node:dgram'
import { once } from 'node:events'
import net from 'node:net'
import type { Test } from 'tap'

/* Etsy statsd 0.9 itself (the npm package, a devDependency) as a child process, for parity tests. */

const ETSY_MAIN = require.resolve('statsd/stats.js')

/** A loopback port free right now, for Etsy, which cannot be given port 0 and report what it bound. */
export async function freePort(type: 'udp' | 'tcp'): Promise<number> {
  if (type === 'udp') {
    const socket = dgram.createSocket('udp4')
    socket.bind(0, '127.0.0.1')
    await once(socket, 'listening')
    const { port } = socket.address()
    socket.close()
    return port
  }
  const server = net.createServer().listen(0, '127.0.0.1')
  await once(server, 'listening')
  const { port } = server.address() as net.AddressInfo
  server.close()
  return port
}

/** Etsy's stats.js as a child process; resolves once it says it is up. */
export async function startEtsy(t: Test, configFile: string): Promise<ChildProcess> {
  const child = spawn(process.execPath, [ETSY_MAIN, configFile], { stdio: ['ignore', 'pipe', 'pipe'] })
  t.teardown(() => {
    child.kill('SIGKILL')
  })
  let output = ''
  await new Promise<void>((resolve, reject) => {
    child.stdout!.on('data', (chunk: Buffer) => {
      output += chunk.toString()
      if (output.includes('server is up')) resolve()
    })
    child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()))
    child.once('exit', (code) => reject(new Error(`Etsy statsd exited (${code}): ${output}`)))
  })
  return child
}
