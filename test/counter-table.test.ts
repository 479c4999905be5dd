import { test } from 'tap'
import { CounterTable } from '../src/aggregate/counter-table'
import { KeyEntry } from '../src/aggregate/slots'

const names = (table: CounterTable): string[] => [...table.live()].map(([e, v]) => `${e.name}=${v}`)

test('counters keep creation order through deletes, re-creation and takes', async (t) => {
  const table = new CounterTable()
  const [a, b, c] = ['a', 'b', 'c'].map((n) => new KeyEntry(n)) as [KeyEntry, KeyEntry, KeyEntry]
  for (const e of [a, b, c]) table.values[table.add(e)] = e.name.charCodeAt(0)
  table.remove(b)
  t.equal(b.counter, -1)
  t.equal(table.size, 2)
  table.values[table.add(b)] = 1 // created again: now last, as in a Map
  t.same(names(table), ['a=97', 'c=99', 'b=1'])

  const taken = table.take(1, false)
  t.same([...taken.values.subarray(0, taken.count)], [97, 99, 1])
  t.same(taken.entries.slice(0, taken.count).map((e) => e.name), ['a', 'c', 'b'])
  t.same(names(table), ['a=0', 'c=0', 'b=0'], 'kept at 0')
  t.same([a.counter, c.counter, b.counter], [0, 1, 2], 'compacted')
})

test('deleting at a take leaves the flush its own keys', async (t) => {
  const table = new CounterTable()
  const entries = Array.from({ length: 200 }, (_, i) => new KeyEntry(`k${i}`))
  for (const e of entries) {
    // add() may replace `values`: index it after the call.
    const i = table.add(e)
    table.values[i] = 5
  }
  const taken = table.take(3, true)
  t.equal(taken.count, 200)
  t.equal(table.size, 3, 'only the first 3 kept')
  // New counters after the take must not overwrite what the flush reads.
  for (let i = 0; i < 300; i++) table.add(new KeyEntry(`new${i}`))
  t.same(taken.entries.slice(0, 200).map((e) => e.name), entries.map((e) => e.name))
  t.ok(taken.values.subarray(0, 200).every((v) => v === 5))
  t.equal(entries[150]!.counter, -1)
  t.equal(entries[2]!.counter, 2)
})
