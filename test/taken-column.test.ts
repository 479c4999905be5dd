import { test } from 'tap'
import { TakenColumn } from '../src/aggregate/taken-column'

const rows = (c: TakenColumn): string[] => Array.from({ length: c.length }, (_, i) => `${c.name(i)}=${c.value(i)}`)

test('grows past its room keeping what it has, and is reused after clear()', async (t) => {
  const c = new TakenColumn()
  for (let i = 0; i < 1000; i++) c.push(`g${i}`, i + 0.5)
  t.equal(c.length, 1000)
  t.equal(c.name(999), 'g999')
  t.equal(c.value(0), 0.5)
  t.equal(c.value(999), 999.5)
  c.clear()
  t.equal(c.length, 0)
  c.push('a', -1)
  c.push('b', 2)
  c.trim()
  t.same(rows(c), ['a=-1', 'b=2'], 'only what was pushed since clear()')
})
