import { Aggregator } from '../src/aggregate/aggregator'
import { configSchema } from '../src/config/schema'
import { silentLogger } from '../src/log'
import { generatePackets } from './workload'

/*
 * A fixed amount of parse+aggregate work for instruction counting, where
 * wall-clock time is too noisy to compare (a shared machine):
 *
 *   valgrind --tool=callgrind node --single-threaded build/bench/parser-instructions.js batched|single|stream [rounds] [native|js]
 *
 * Shapes: batched = ~1400-byte datagrams (about 35 lines each), single = one
 * line per packet (each its own Buffer, as node:dgram delivers them), stream =
 * ~64 KiB chunks of lines (as TCP and Unix streams deliver them), plain =
 * the same chunks of nothing but `bench.keyN:1|c` over 1000 keys (what
 * bench:e2e sends, and the most common traffic: untagged counters).
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
const [count, packetBytes] = sizes[shape] ?? sizes.batched!
const { packets, metrics } = shape === 'plain' ? plainCounters() : generatePackets(count, packetBytes)
const aggregator = new Aggregator({ ...configSchema.parse({}), dumpMessages: false, nativeParsing }, silentLogger())
for (let r = 0; r < rounds; r++) {
  for (const packet of packets) aggregator.ingest(packet)
  aggregator.flush(Date.now())
}
process.stdout.write(`${shape} (${nativeParsing ? 'native fast path' : 'JavaScript'}): ${rounds} x ${metrics} metrics\n`)
