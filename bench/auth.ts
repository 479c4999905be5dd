import { Aggregator } from '../src/aggregate/aggregator'
import { configSchema } from '../src/config/schema'
import { silentLogger } from '../src/log'
import { seededRandom } from '../test/helpers/random'

/*
 * What token authentication costs valid traffic: the same multi-metric
 * packets, a token on every line, parsed and aggregated through an
 * `auth: "token"` listener and through an `auth: "none"` one; and, for
 * scale, the same lines without tokens. Prints the rates and the ratio
 * from the same run. `node build/bench/auth.js token` (or `none`, `plain`)
 * runs one variant only, for `perf stat -e instructions` or callgrind.
 */

const PACKETS = 20_000
const ROUNDS = 7
const LINES_PER_PACKET = 30
const TOKENS = ['4f1c2a9be07d', '9d3e5b7a1c24', 'c0ffee123456']

/** The same lines either way (with or without a token), 30 to a packet. */
function generate(withTokens: boolean): { packets: Buffer[]; lines: number } {
  const random = seededRandom(7)
  const pick = (n: number): number => Math.floor(random() * n)
  const lineFor = (): string => {
    const token = TOKENS[pick(TOKENS.length)] + '.'
    const r = random()
    let line: string
    if (r < 0.45) line = `app.web${pick(20)}.requests.status_${200 + pick(5)}:${1 + pick(3)}|c${random() < 0.2 ? '|@0.1' : ''}`
    else if (r < 0.75) line = `app.web${pick(20)}.latency.endpoint_${pick(40)}:${(random() * 500).toFixed(3)}|ms`
    else if (r < 0.85) line = `app.queue${pick(50)}.depth:${random() < 0.3 ? '+' : ''}${pick(1000)}|g`
    else if (r < 0.92) line = `app.users.unique:user${pick(5000)}|s`
    else line = `api.calls:1|c|#env:prod,region:eu${pick(3)},service:svc${pick(30)}`
    return withTokens ? token + line : line
  }
  const packets: Buffer[] = []
  for (let i = 0; i < PACKETS; i++) {
    let text = ''
    for (let j = 0; j < LINES_PER_PACKET; j++) text += lineFor() + '\n'
    packets.push(Buffer.from(text))
  }
  return { packets, lines: PACKETS * LINES_PER_PACKET }
}

/**
 * `listener`'s auth over packets with or without tokens. "none" with tokens
 * parses the very same bytes as "token" (the token just stays in the name),
 * so the two differ only by the check itself.
 */
function variant(listener: 'none' | 'token', withTokens: boolean): () => number {
  const cfg = configSchema.parse({
    listeners: [{ type: 'udp', auth: listener }],
    auth: { tokens: Object.fromEntries(TOKENS.map((t) => [t, true])) },
  })
  const aggregator = new Aggregator({ ...cfg, dumpMessages: false }, silentLogger())
  const { packets, lines } = generate(withTokens)
  return () => {
    const started = process.hrtime.bigint()
    for (const packet of packets) aggregator.ingest(packet, 0)
    const data = aggregator.flush(Date.now())
    const ms = Number(process.hrtime.bigint() - started) / 1e6
    if (data.selfMetrics.some((m) => m.value > 0)) throw new Error('valid lines were refused')
    return (lines / ms) * 1000
  }
}

function main(): void {
  const only = process.argv[2]
  if (only === 'plain' || only === 'none' || only === 'token') {
    const run = only === 'plain' ? variant('none', false) : variant(only, true)
    for (let i = 0; i < ROUNDS; i++) run()
    return
  }
  const runs = { plain: variant('none', false), none: variant('none', true), token: variant('token', true) }
  const best = { plain: 0, none: 0, token: 0 }
  // Interleaved, so that machine noise hits all alike.
  for (let i = 0; i < ROUNDS; i++) {
    for (const key of ['plain', 'none', 'token'] as const) best[key] = Math.max(best[key], runs[key]())
  }
  const rate = (x: number): string => `${(x / 1e6).toFixed(2)}M lines/s`
  process.stdout.write(
    `auth: same packets with tokens: ${rate(best.token)} through a token listener, ${rate(best.none)} through an ` +
      `"auth: none" one (${(best.token / best.none).toFixed(3)}x); ${rate(best.plain)} without tokens in the lines ` +
      `(best of ${ROUNDS})\n`,
  )
}

main()
