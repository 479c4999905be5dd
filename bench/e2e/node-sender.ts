import { once } from 'node:events'
import fs from 'node:fs'
import net from 'node:net'
import tls from 'node:tls'

/*
 * sender.c's `tcp` mode in Node, with TLS or without, for bench/e2e/tls.ts
 * (the C sender has no TLS; the same sender for both keeps the writes, and
 * so the server's reads, alike): one connection, `bench.keyN:1|c` lines over
 * 1000 keys, written every millisecond in batches of at most 2000 lines to
 * hold RATE metrics/s for SECONDS, then a half-close; prints what sender.c
 * prints.
 *   node node-sender.js node-tls HOST PORT RATE SECONDS CA_FILE
 *   node node-sender.js node-tcp HOST PORT RATE SECONDS
 */

const KEYS = 1000
const BATCH = 2000

async function main(): Promise<void> {
  const [mode, host, port, rate, seconds, caFile] = process.argv.slice(2)
  const block = Buffer.from(Array.from({ length: BATCH }, (_, i) => `bench.key${i % KEYS}:1|c\n`).join(''))
  // Where each line ends in `block`, so a batch of n lines is block[0, ends[n - 1]).
  const ends: number[] = []
  for (let i = 0; i < block.length; i++) if (block[i] === 0x0a) ends.push(i + 1)
  const socket =
    mode === 'node-tls'
      ? tls.connect({ host, port: Number(port), ca: fs.readFileSync(caFile!), servername: 'localhost' })
      : net.createConnection(Number(port), host)
  await once(socket, mode === 'node-tls' ? 'secureConnect' : 'connect')
  socket.resume()
  let metrics = 0
  const start = performance.now()
  const end = start + Number(seconds) * 1000
  for (let now = start; now < end; now = performance.now()) {
    const due = Math.floor(((now - start) / 1000) * Number(rate))
    while (metrics < due) {
      const n = Math.min(BATCH, due - metrics)
      if (!socket.write(block.subarray(0, ends[n - 1]))) await once(socket, 'drain')
      metrics += n
    }
    await new Promise((resolve) => setTimeout(resolve, 1))
  }
  const elapsed = (performance.now() - start) / 1000
  socket.end()
  await once(socket, 'close')
  process.stdout.write(`sent ${metrics} 1 ${elapsed.toFixed(3)}\n`)
}

main().catch((err: unknown) => {
  process.stderr.write(`node-sender: ${(err as Error).stack}\n`)
  process.exit(1)
})
