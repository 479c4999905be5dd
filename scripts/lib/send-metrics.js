'use strict'
/*
 * node send-metrics.js LOG TARGET TEXT [TARGET TEXT...]
 * Sends each TEXT to the server whose start-up log is LOG: TARGET is "udp" or
 * "tcp" (the address the server logged it listens on) or a Unix socket path.
 * Stream connections are ended and waited for, so the server has the data.
 */
const dgram = require('node:dgram')
const fs = require('node:fs')
const net = require('node:net')

const [log, ...pairs] = process.argv.slice(2)
const up = fs.readFileSync(log, 'utf8').split('\n').find((line) => line.includes('"statsd server is up"'))
const listeners = JSON.parse(up).listeners

function endpoint(type) {
  const description = listeners.find((l) => l.startsWith(`${type} `))
  if (description === undefined) throw new Error(`no ${type} listener in ${JSON.stringify(listeners)}`)
  const where = description.slice(type.length + 1)
  const colon = where.lastIndexOf(':')
  return { host: where.slice(0, colon).replace(/^\[|\]$/g, ''), port: Number(where.slice(colon + 1)) }
}

function sendUdp(text) {
  const { host, port } = endpoint('udp')
  const socket = dgram.createSocket(net.isIPv6(host) ? 'udp6' : 'udp4')
  return new Promise((resolve, reject) =>
    socket.send(text, port, host, (err) => {
      socket.close()
      if (err) reject(err)
      else resolve()
    }),
  )
}

function sendStream(options, text) {
  return new Promise((resolve, reject) => {
    const socket = net.connect(options, () => socket.end(text))
    socket.on('error', reject)
    socket.on('close', resolve)
    socket.resume()
  })
}

async function main() {
  for (let i = 0; i < pairs.length; i += 2) {
    const [target, text] = [pairs[i], pairs[i + 1]]
    if (target === 'udp') await sendUdp(text)
    else if (target === 'tcp') await sendStream(endpoint('tcp'), text)
    else await sendStream({ path: target }, text)
  }
}

main().catch((err) => {
  console.error(err)
  process.exit(1)
})
