import { test } from 'tap'
import { HEAP_GROWING_PERCENT, limitHeapGrowth } from '../src/core/heap-growth'

test('the heap growing factor is set unless the command line chose one', async (t) => {
  t.equal(limitHeapGrowth([]), HEAP_GROWING_PERCENT)
  t.equal(limitHeapGrowth(['--inspect']), HEAP_GROWING_PERCENT)
  t.equal(limitHeapGrowth(['--heap-growing-percent=80']), null)
  t.equal(limitHeapGrowth(['--heap_growing_percent', '80']), null)
})
