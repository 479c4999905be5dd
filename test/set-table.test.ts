import { test } from 'tap'
import { SetTable } from '../src/aggregate/set-table'
import { KeyEntry } from '../src/aggregate/slots'

const live = (table: SetTable): string[] => [...table.live()].map(([e, m]) => `${e.name}=${m.join(',')}`)

function flush(table: SetTable, deleteAll = false): string[] {
  const names: string[] = []
  const counts: number[] = []
  table.take(names, counts, deleteAll)
  return names.map((n, i) => `${n}:${counts[i]}`)
}

test('distinct members are counted, one or many, and emptied at each flush', async (t) => {
  const table = new SetTable()
  const [one, dup, many, idle] = ['one', 'dup', 'many', 'idle'].map((n) => new KeyEntry(n)) as [KeyEntry, KeyEntry, KeyEntry, KeyEntry]
  for (const e of [one, dup, many, idle]) table.add(e)
  table.addMember(one.set, 'a')
  table.addMember(dup.set, 'x')
  table.addMember(dup.set, 'x')
  for (const m of ['1', '2', '1', '3', '2']) table.addMember(many.set, m)
  t.same(live(table), ['one=a', 'dup=x', 'many=1,2,3', 'idle='])
  t.same(flush(table), ['one:1', 'dup:1', 'many:3', 'idle:0'])
  t.same(live(table), ['one=', 'dup=', 'many=', 'idle='], 'emptied, kept')
  table.addMember(many.set, '9')
  table.addMember(one.set, 'b')
  table.addMember(one.set, 'c')
  t.same(flush(table), ['one:2', 'dup:0', 'many:1', 'idle:0'])
})

test('deletes keep the order of the others; re-created sets come last; deleteSets empties the table', async (t) => {
  const table = new SetTable()
  const entries = ['a', 'b', 'c'].map((n) => new KeyEntry(n)) as [KeyEntry, KeyEntry, KeyEntry]
  for (const e of entries) table.addMember(table.add(e), e.name)
  table.remove(entries[1])
  t.equal(entries[1].set, -1)
  t.equal(table.size, 2)
  table.addMember(table.add(entries[1]), 'again')
  t.same(flush(table), ['a:1', 'c:1', 'b:1'])
  t.same(entries.map((e) => e.set), [0, 2, 1], 'compacted')
  t.same(flush(table, true), ['a:0', 'c:0', 'b:0'])
  t.same(entries.map((e) => e.set), [-1, -1, -1])
  t.equal(table.size, 0)
  t.same(flush(table), [])
})
