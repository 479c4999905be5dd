import { seededRandom } from '../test/helpers/random'

/*
 * The generated workload shared by the micro-benchmarks: a few thousand keys,
 * with sample rates, DogStatsD tags, deltas and sets.
 */

/** Packets of about `packetBytes` bytes of newline-separated lines (0 = one line per packet). */
export function generatePackets(count: number, packetBytes: number, seed = 7): { packets: Buffer[]; metrics: number } {
  const random = seededRandom(seed)
  const pick = (n: number): number => Math.floor(random() * n)
  const lineFor = (): string => {
    const r = random()
    if (r < 0.45) return `app.web${pick(20)}.requests.status_${200 + pick(5)}:${1 + pick(3)}|c${random() < 0.2 ? '|@0.1' : ''}`
    if (r < 0.75) return `app.web${pick(20)}.latency.endpoint_${pick(40)}:${(random() * 500).toFixed(3)}|ms`
    if (r < 0.85) return `app.queue${pick(50)}.depth:${random() < 0.3 ? '+' : ''}${pick(1000)}|g`
    if (r < 0.92) return `app.users.unique:user${pick(5000)}|s`
    return `api.calls:1|c|#env:prod,region:eu${pick(3)},service:svc${pick(30)}`
  }
  const packets: Buffer[] = []
  let metrics = 0
  for (let i = 0; i < count; i++) {
    let text = ''
    do {
      text += lineFor() + '\n'
      metrics++
    } while (text.length < packetBytes)
    packets.push(Buffer.from(text))
  }
  return { packets, metrics }
}
