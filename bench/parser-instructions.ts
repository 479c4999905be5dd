import { Aggregator } from '../src/aggregate/aggregator'
import { configSchema } from '../src/config/schema'
import { silentLogger } from '../src/log'
import { generatePackets } from './workload'

/*
 * A fixed amount of parse+aggregate work for instruction counting, where
 * wall-clock time is too noisy to compare (a shared machine):
 *
 *   valgrind --tool=callgrind node build/bench/parser-instructions.js batched|single [rounds]
 *
 * Compare total instructions against a run with rounds=0 (start-up and
 * packet generation only) to get the cost of the parsing itself.
 */

const shape = process.argv[2] ?? 'batched'
const rounds = Number(process.argv[3] ?? 10)
const { packets, metrics } = generatePackets(shape === 'single' ? 40_000 : 2_000, shape === 'single' ? 0 : 1400)
const aggregator = new Aggregator({ ...configSchema.parse({}), dumpMessages: false }, silentLogger())
for (let r = 0; r < rounds; r++) {
  for (const packet of packets) aggregator.ingest(packet)
  aggregator.flush(Date.now())
}
process.stdout.write(`${shape}: ${rounds} x ${metrics} metrics\n`)
