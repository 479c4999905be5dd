import { seededRandom } from '../test/helpers/random'

/*
 * The deterministic workload. Every key belongs to one transport and one
 * "phase" (a ramp step, or the whole run), so the harness can tell which
 * transport lost what. Each key has one kind, and every line of a key adds a
 * known, exactly representable amount, so the totals over a whole run are
 * exact wherever the flush boundaries fall.
 */

export const TRANSPORTS = ['udp', 'tcp', 'tcp-short', 'unix'] as const
export type Transport = (typeof TRANSPORTS)[number]

/**
 * c/cr counters (cr sampled), g absolute gauge (the line number: it only goes
 * up), gp/gn gauge deltas (+1/-1), ms/msr timers (msr sampled), s set (a new
 * member per line).
 */
export const KINDS = ['c', 'cr', 'g', 'gp', 'gn', 'ms', 'msr', 's'] as const
export type Kind = (typeof KINDS)[number]

/** Name prefix of every workload key. */
export const ROOT = 'soak'

/** Metric names cannot hold '-', keep them short and readable. */
export const TRANSPORT_CODE: Record<Transport, string> = { udp: 'udp', tcp: 'tcp', 'tcp-short': 'tcpshort', unix: 'unix' }

export function kindOf(k: number): Kind {
  return KINDS[k % KINDS.length]!
}

/** Every third key is untagged, DogStatsD-tagged (|#...) or Graphite-tagged (name;k=v). */
function tagStyle(k: number): 0 | 1 | 2 {
  return (Math.floor(k / KINDS.length) % 3) as 0 | 1 | 2
}

/** Counter increment of key k: small integers, so sums stay exact. */
export function counterValue(k: number): number {
  return 1 + (k % 5)
}

/** Sample rate of key k: powers of two, so 1/rate is exact. */
export function sampleRate(k: number): number {
  const kind = kindOf(k)
  if (kind === 'cr') return k % 16 < 8 ? 0.5 : 0.25
  if (kind === 'msr') return 0.5
  return 1
}

/** How much one line of key k adds to what the server counts (counter count, timer count, set members, gauge delta). */
export function perLine(k: number): number {
  const kind = kindOf(k)
  if (kind === 'c' || kind === 'cr') return counterValue(k) / sampleRate(k)
  if (kind === 'ms' || kind === 'msr') return 1 / sampleRate(k)
  return 1
}

/** One group of keys: one phase, one transport. */
export class KeyGroup {
  readonly prefix: string
  /** Lines of each key the transport took (so the server should have them). */
  readonly sent: Float64Array
  /** Timers: sum, min and max of the values taken; absolute gauges: the highest (last) value taken. */
  readonly valueSum: Float64Array
  readonly minValue: Float64Array
  readonly maxValue: Float64Array
  /** Lines generated per key (sent or not): the next line number. */
  private readonly seq: Float64Array
  private next = 0
  private readonly names: string[] = []
  private readonly suffixes: string[] = []
  private readonly random: () => number

  constructor(
    readonly phase: string,
    readonly transport: Transport,
    readonly keys: number,
    seed: number,
    token: string | undefined,
  ) {
    this.prefix = `${ROOT}.${phase}.${TRANSPORT_CODE[transport]}.`
    this.sent = new Float64Array(keys)
    this.valueSum = new Float64Array(keys)
    this.minValue = new Float64Array(keys).fill(Infinity)
    this.maxValue = new Float64Array(keys).fill(-Infinity)
    this.seq = new Float64Array(keys)
    this.random = seededRandom(seed)
    for (let k = 0; k < keys; k++) {
      const kind = kindOf(k)
      const style = tagStyle(k)
      const base = `${token !== undefined ? token + '.' : ''}${this.prefix}${kind}.k${k}${style === 2 ? ';soak=1' : ''}:`
      const rate = sampleRate(k)
      let suffix = { c: '|c', cr: '|c', g: '|g', gp: '|g', gn: '|g', ms: '|ms', msr: '|ms', s: '|s' }[kind]
      if (rate !== 1) suffix += `|@${rate}`
      if (style === 1) suffix += `|#soak:1,tr:${TRANSPORT_CODE[transport]}`
      this.names.push(base)
      this.suffixes.push(suffix)
    }
  }

  /** The Graphite tag string the server should put after key k's name. */
  static expectedTags(k: number, transport: Transport): string {
    const style = tagStyle(k)
    return style === 0 ? '' : style === 1 ? `;soak=1;tr=${TRANSPORT_CODE[transport]}` : ';soak=1'
  }

  /**
   * The next `count` lines, round-robin over the keys, and the commit that
   * records them as sent (call it only once the transport took them).
   */
  lines(count: number): { text: string[]; commit: () => void } {
    const text: string[] = []
    const keys: number[] = []
    const values: number[] = []
    for (let i = 0; i < count; i++) {
      const k = this.next
      this.next = (this.next + 1) % this.keys
      const n = ++this.seq[k]!
      let value: string
      let v = 0
      switch (kindOf(k)) {
        case 'c':
        case 'cr':
          value = String(counterValue(k))
          break
        case 'g':
        case 's':
          value = String(n)
          v = n
          break
        case 'gp':
          value = '+1'
          break
        case 'gn':
          value = '-1'
          break
        case 'ms':
        case 'msr':
          v = Math.floor(this.random() * 1000)
          value = String(v)
          break
      }
      text.push(this.names[k] + value + this.suffixes[k])
      keys.push(k)
      values.push(v)
    }
    const commit = (): void => {
      for (let i = 0; i < keys.length; i++) {
        const k = keys[i]!
        this.sent[k]!++
        const kind = kindOf(k)
        if (kind === 'ms' || kind === 'msr') {
          const v = values[i]!
          this.valueSum[k]! += v
          if (v < this.minValue[k]!) this.minValue[k] = v
          if (v > this.maxValue[k]!) this.maxValue[k] = v
        } else if (kind === 'g') {
          this.maxValue[k] = Math.max(this.maxValue[k]!, values[i]!)
        }
      }
    }
    return { text, commit }
  }

  /** Lines generated for key k so far, taken or not: an upper bound for what the server can have seen. */
  generated(k: number): number {
    return this.seq[k]!
  }
}

/** Lines the server must count as bad, and nothing else: sent between good lines in --chaos. */
export const MALFORMED = [
  `${ROOT}.bad.type:1|q`,
  `${ROOT}.bad.value:abc|c`,
  ':1|c',
  `${ROOT}.bad.rate:1|c|@0`,
  `${ROOT}-bad-no-colon`,
  `${ROOT}.bad.empty:|ms`,
]
