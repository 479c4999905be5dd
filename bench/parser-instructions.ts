import { Aggregator } from '../src/aggregate/aggregator'
import { configSchema } from '../src/config/schema'
import { silentLogger } from '../src/log'
import { generatePackets } from './workload'

/*
 * A fixed amount of parse+aggregate work for instruction counting, where
 * wall-clock time is too noisy to compare (a shared machine):
 *
 *   valgrind --tool=callgrind node --single-threaded build/bench/parser-instructions.js batched|single|stream|plain|fields [rounds] [native|js]
 *
 * Shapes: batched = ~1400-byte datagrams (about 35 lines each), single = one
 * line per packet (each its own Buffer, as node:dgram delivers them), stream =
 * ~64 KiB chunks of lines (as TCP and Unix streams deliver them), plain =
 * the same chunks of nothing but `bench.keyN:1|c` over 1000 keys (what
 * bench:e2e sends, and the most common traffic: untagged counters), fields =
 * the same chunks of DogStatsD lines with fields after the type in the
 * orders clients send them (tags, rate, c: container ID, card:, e:, and
 * one line in ten with a T timestamp).
 * For the steady state, subtract a run with few rounds (say 5) from one with
 * more (say 25) and divide by the extra rounds' metrics; a run with rounds=0
 * gives start-up and packet generation alone. --single-threaded makes the
 * counts repeatable: under valgrind, background compilation finishes at
 * varying points otherwise. The last argument picks the addon's fast path
 * (native, the default when the addon is built) or the JavaScript parser alone.
 */

const shape = process.argv[2] ?? 'batched'
const rounds = Number(process.argv[3] ?? 10)
const nativeParsing = process.argv[4] !== 'js'
const sizes: Record<string, [count: number, packetBytes: number]> = {
  batched: [2_000, 1400],
  single: [40_000, 0],
  stream: [44, 64 * 1024],
}

function plainCounters(): { packets: Buffer[]; metrics: number } {
  const packets: Buffer[] = []
  let metrics = 0
  for (let p = 0; p < 44; p++) {
    let text = ''
    while (text.length < 64 * 1024) text += `bench.key${metrics++ % 1000}:1|c\n`
    packets.push(Buffer.from(text))
  }
  return { packets, metrics }
}
function dogStatsdFields(): { packets: Buffer[]; metrics: number } {
  const recent = Math.floor(Date.now() / 1000) - 30
  const lines = [
    (k: number) => `dd.requests:1|c|#env:prod,service:svc${k % 30}|c:3f2a9c${k % 8}|card:low`,
    (k: number) => `dd.latency:${(k % 500) + 0.25}|d|@0.5|#env:prod,endpoint:e${k % 40}|e:it-false,cn-nginx,pu-${k % 4}`,
    (k: number) => `dd.queue.depth:${k % 1000}|g|#env:prod,queue:q${k % 50}|card:high`,
    (k: number) => `dd.batch:${1 + (k % 3)}|c|T${recent}|#env:prod,job:j${k % 10}`,
  ]
  const packets: Buffer[] = []
  let metrics = 0
  for (let p = 0; p < 44; p++) {
    let text = ''
    while (text.length < 64 * 1024) {
      const k = metrics++
      text += lines[k % 10 === 9 ? 3 : k % 3]!(k) + '\n'
    }
    packets.push(Buffer.from(text))
  }
  return { packets, metrics }
}
const [count, packetBytes] = sizes[shape] ?? sizes.batched!
const { packets, metrics } = shape === 'plain' ? plainCounters() : shape === 'fields' ? dogStatsdFields() : generatePackets(count, packetBytes)
const aggregator = new Aggregator({ ...configSchema.parse({}), dumpMessages: false, nativeParsing }, silentLogger())
for (let r = 0; r < rounds; r++) {
  for (const packet of packets) aggregator.ingest(packet)
  aggregator.flush(Date.now())
}
process.stdout.write(`${shape} (${nativeParsing ? 'native fast path' : 'JavaScript'}): ${rounds} x ${metrics} metrics\n`)
