import { PacketParser, type ParseSink } from '../src/parse/packet-parser'
import { ReferencePacketParser } from '../test/helpers/reference-packet-parser'
import { generatePackets } from './workload'

/*
 * The parser alone (a sink that does nothing), the single-pass one against
 * the multi-pass one it replaced, for instruction counts:
 *
 *   valgrind --tool=callgrind node build/bench/parser-only.js new|old batched|single [rounds]
 */

const sink: ParseSink<number> = {
  onLine() {},
  onBadLine() {},
  resolveKey: (_b, _s, _e, _ts, _te, hash) => hash,
  onCounter() {},
  onTimer() {},
  onGauge() {},
  onSet() {},
  onEventLine() {},
  onBadFields() {},
  onTimestamped() {},
}
const [which = 'new', shape = 'batched', rounds = '10'] = process.argv.slice(2)
const { packets, metrics } = generatePackets(shape === 'single' ? 40_000 : 2_000, shape === 'single' ? 0 : 1400)
const parser = which === 'old' ? new ReferencePacketParser(sink) : new PacketParser(sink)
const started = process.hrtime.bigint()
for (let r = 0; r < Number(rounds); r++) for (const packet of packets) parser.parse(packet)
const ns = Number(process.hrtime.bigint() - started) / (Number(rounds) * metrics)
process.stdout.write(`${which} ${shape}: ${rounds} x ${metrics} metrics, ${ns.toFixed(0)} ns/metric\n`)
