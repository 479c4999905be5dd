import { test } from 'tap'
import { GaugeTable } from '../src/aggregate/gauge-table'
import { KeyEntry } from '../src/aggregate/slots'

const live = (table: GaugeTable): string[] => [...table.live()].map(([e, v]) => `${e.name}=${v}`)

test('gauges keep creation order through deletes and re-creation, as a Map by name did', async (t) => {
  const table = new GaugeTable()
  const [a, b, c] = ['a', 'b', 'c'].map((n) => new KeyEntry(n)) as [KeyEntry, KeyEntry, KeyEntry]
  for (const [e, v] of [[a, 1], [b, 2], [c, 3]] as const) table.add(e, v)
  table.remove(b)
  t.equal(b.gauge, -1)
  t.equal(table.size, 2)
  table.add(b, 7)
  t.same(live(table), ['a=1', 'c=3', 'b=7'])
  const names: string[] = []
  const values: number[] = []
  t.equal(table.take(names, values, false), false, 'nothing expires without deleteGauges')
  t.same([names, values], [['a', 'c', 'b'], [1, 3, 7]])
  t.same([a.gauge, c.gauge, b.gauge], [0, 1, 2], 'compacted')
  t.same(live(table), ['a=1', 'c=3', 'b=7'], 'values kept')
})

test('leases: a gauge is taken in the flush its lease runs out, then deleted; Infinity never runs out', async (t) => {
  const table = new GaugeTable()
  const entries = Array.from({ length: 100 }, (_, i) => new KeyEntry(`g${i}`))
  for (const e of entries) table.add(e, Number(e.name.slice(1)))
  table.renewLeases(2)
  table.ttls[entries[0]!.gauge] = Infinity
  table.ttls[entries[50]!.gauge] = 1
  const flush = (): string[] => {
    const names: string[] = []
    table.take(names, [], true)
    return names
  }
  t.equal(flush().length, 100, 'all taken, g50 expires')
  t.equal(entries[50]!.gauge, -1)
  t.equal(flush().length, 99, 'the others expire in their second flush')
  t.same(live(table), ['g0=0'], 'only the one that never expires is left')
  table.renewLeases(3)
  t.equal(table.ttls[entries[0]!.gauge], Infinity, 'renewLeases leaves it alone')
})

test('growing keeps values and leases', async (t) => {
  const table = new GaugeTable()
  const entries = Array.from({ length: 1000 }, (_, i) => new KeyEntry(`g${i}`))
  for (const e of entries) {
    // add() may replace the columns: index them after the call.
    const i = table.add(e, -Number(e.name.slice(1)))
    table.ttls[i] = 5
  }
  t.equal(table.size, 1000)
  t.ok(entries.every((e, i) => table.values[e.gauge] === -i && table.ttls[e.gauge] === 5))
})
