import t, { type Test } from 'tap'
import { Aggregator } from '../src/aggregate/aggregator'
import type { FlushData } from '../src/aggregate/flush-data'
import { configSchema } from '../src/config/schema'
import type { MetricType } from '../src/core/server-control'
import { silentLogger } from '../src/log'
import { seededRandom } from './helpers/random'

/*
 * The aggregator's tables of columns (counter-, timer-, gauge- and
 * set-table.ts) against a plain model with a Map by name per type, as the
 * aggregator kept them before: random traffic over a few hundred names,
 * many flushes, console deletes and re-created metrics in between, with
 * and without the delete* options. Every flush must give the same metrics
 * in the same order with the same values, and tables() the same contents.
 */

interface Model {
  counters: Map<string, number>
  timers: Map<string, number[]>
  gauges: Map<string, { value: number; ttl: number }>
  sets: Map<string, Set<string>>
}

const TYPES: MetricType[] = ['counters', 'timers', 'gauges', 'sets']

function run(t: Test, seed: number, options: { deleteIdleStats: boolean; gaugesMaxTTL: number }): void {
  const random = seededRandom(seed)
  const pick = (n: number): number => Math.floor(random() * n)
  const cfg = configSchema.parse({ flushInterval: 1000, ...options })
  const aggregator = new Aggregator({ ...cfg, dumpMessages: false, nativeParsing: seed % 2 === 0 }, silentLogger())
  const model: Model = { counters: new Map(), timers: new Map(), gauges: new Map(), sets: new Map() }
  const internal = (name: string): boolean => name.startsWith('statsd.')
  let mismatches = 0
  const check = (what: string, ours: unknown, theirs: unknown): void => {
    if (JSON.stringify(ours) === JSON.stringify(theirs)) return
    if (mismatches++ < 3) t.same(ours, theirs, what)
  }
  for (let flush = 0; flush < 40; flush++) {
    const lines: string[] = []
    for (let n = pick(600); n > 0; n--) {
      const name = `g${pick(10)}.k${pick(30)}`
      const kind = pick(4)
      const value = pick(100)
      if (kind === 0) {
        lines.push(`${name}:${value}|c`)
        model.counters.set(name, (model.counters.get(name) ?? 0) + value)
      } else if (kind === 1) {
        lines.push(`${name}:${value}|ms`)
        const values = model.timers.get(name) ?? []
        values.push(value)
        model.timers.set(name, values)
      } else if (kind === 2) {
        const delta = random() < 0.3
        lines.push(`${name}:${delta ? '+' : ''}${value}|g`)
        const gauge = model.gauges.get(name)
        if (gauge === undefined) model.gauges.set(name, { value, ttl: options.gaugesMaxTTL })
        else {
          gauge.value = delta ? gauge.value + value : value
          gauge.ttl = options.gaugesMaxTTL
        }
      } else {
        const member = `m${pick(3)}`
        lines.push(`${name}:${member}|s`)
        const members = model.sets.get(name) ?? new Set()
        members.add(member)
        model.sets.set(name, members)
      }
    }
    for (let i = 0; i < lines.length; i += 20) aggregator.ingest(Buffer.from(lines.slice(i, i + 20).join('\n')))

    if (random() < 0.3) {
      // A console delete of one name or a folder of them, then some of them sent again.
      const type = TYPES[pick(4)]!
      const pattern = random() < 0.5 ? `g${pick(10)}.k${pick(30)}` : `g${pick(10)}.*`
      const deleted = aggregator.deleteMatching(type, pattern)
      const table = model[type] as Map<string, unknown>
      const folder = pattern.endsWith('.*') ? pattern.slice(0, -1) : null
      const expected = [...table.keys()].filter((n) => n === pattern || (folder !== null && n.startsWith(folder)))
      check(`flush ${flush}: deleted ${type} ${pattern}`, deleted, expected)
      for (const name of deleted) table.delete(name)
    }

    const tables = aggregator.tables()
    check(`flush ${flush}: tables().counters`, [...tables.counters].filter(([n]) => !internal(n)), [...model.counters])
    check(`flush ${flush}: tables().timers`, [...tables.timers], [...model.timers])
    check(`flush ${flush}: tables().gauges`, [...tables.gauges].filter(([n]) => !internal(n)), [...model.gauges].map(([n, g]) => [n, g.value]))
    check(`flush ${flush}: tables().sets`, [...tables.sets], [...model.sets].map(([n, s]) => [n, [...s]]))

    const data: FlushData = aggregator.flush(1_000_000 + flush * 1000)
    check(`flush ${flush}: counters`, data.counters.filter((c) => !internal(c.name)).map((c) => [c.name, c.value]), [...model.counters])
    check(
      `flush ${flush}: timers`,
      data.timers.map((tm) => [tm.name, Object.fromEntries(tm.stats).count ?? 0, Object.fromEntries(tm.stats).sum ?? 0]),
      [...model.timers].map(([n, v]) => [n, v.length, v.reduce((a, b) => a + b, 0)]),
    )
    check(`flush ${flush}: gauges`, data.gauges.filter((g) => !internal(g.name)).map((g) => [g.name, g.value]), [...model.gauges].map(([n, g]) => [n, g.value]))
    check(`flush ${flush}: sets`, data.sets.map((s) => [s.name, s.count]), [...model.sets].map(([n, s]) => [n, s.size]))

    // Etsy's keep, reset and delete rules.
    if (options.deleteIdleStats) {
      model.counters.clear()
      model.timers.clear()
      model.sets.clear()
      for (const [name, gauge] of model.gauges) if (--gauge.ttl < 1) model.gauges.delete(name)
    } else {
      for (const name of model.counters.keys()) model.counters.set(name, 0)
      for (const name of model.timers.keys()) model.timers.set(name, [])
      for (const members of model.sets.values()) members.clear()
    }
  }
  t.equal(mismatches, 0, 'every flush and every table the same as the model')
}

t.test('kept between flushes (Etsy defaults)', async (t) => {
  for (const seed of [1, 2, 3]) run(t, seed, { deleteIdleStats: false, gaugesMaxTTL: 1 })
})

t.test('deleteIdleStats, gauges kept 3 flushes after their last value', async (t) => {
  for (const seed of [4, 5, 6]) run(t, seed, { deleteIdleStats: true, gaugesMaxTTL: 3 })
})
