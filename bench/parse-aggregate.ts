import { Aggregator } from '../src/aggregate/aggregator'
import { configSchema } from '../src/config/schema'
import { silentLogger } from '../src/log'
import { generatePackets } from './workload'

/*
 * Parser + aggregator throughput on a generated workload: multi-metric
 * packets (~1400 bytes, like a well-batched UDP client) over a few thousand
 * keys, with sample rates, DogStatsD tags, deltas and sets. Prints one line:
 * metrics/second, and the ratio to a plain string-splitting parser
 * (split("\n"), split(":"), split("|"), Number()) on the same packets, since
 * absolute numbers mean little across machines.
 */

const PACKETS = 20_000
const ROUNDS = 7

function bestOf(rounds: number, run: () => void): number {
  let best = Infinity
  for (let i = 0; i < rounds; i++) {
    const started = process.hrtime.bigint()
    run()
    best = Math.min(best, Number(process.hrtime.bigint() - started) / 1e6)
  }
  return best
}

/** The obvious string-based way (what Etsy does), aggregating into plain objects. */
function stringParser(packets: Buffer[]): void {
  const counters: Record<string, number> = {}
  const timers: Record<string, number[]> = {}
  const gauges: Record<string, number> = {}
  const sets: Record<string, Set<string>> = {}
  for (const packet of packets) {
    for (const line of packet.toString().split('\n')) {
      if (line.length === 0) continue
      const bits = line.split(':')
      const key = bits.shift()!.replace(/\s+/g, '_').replace(/\//g, '-').replace(/[^a-zA-Z_\-0-9.;=]/g, '')
      for (const bit of bits) {
        const fields = bit.split('|')
        const rate = fields[2]?.startsWith('@') ? Number(fields[2].slice(1)) : 1
        const type = fields[1]?.trim()
        if (type === 'ms') (timers[key] ??= []).push(Number(fields[0]))
        else if (type === 'g') gauges[key] = Number(fields[0])
        else if (type === 's') (sets[key] ??= new Set()).add(fields[0]!)
        else counters[key] = (counters[key] ?? 0) + Number(fields[0]) * (1 / rate)
      }
    }
  }
}

function main(): void {
  const { packets, metrics } = generatePackets(PACKETS, 1400)
  const cfg = configSchema.parse({})
  const aggregator = new Aggregator({ ...cfg, dumpMessages: false }, silentLogger())
  const ours = bestOf(ROUNDS, () => {
    for (const packet of packets) aggregator.ingest(packet)
    aggregator.flush(Date.now())
  })
  const reference = bestOf(ROUNDS, () => stringParser(packets))
  const rate = (metrics / ours) * 1000
  process.stdout.write(
    `parse+aggregate: ${(rate / 1e6).toFixed(2)}M metrics/s ` +
      `(${metrics} metrics in ${ours.toFixed(1)} ms, best of ${ROUNDS}; ` +
      `${(reference / ours).toFixed(2)}x a string-splitting parser on the same packets)\n`,
  )
}

main()
