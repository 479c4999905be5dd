import t from 'tap'
import { TimerColumns } from '../src/aggregate/timer-columns'
import { TimerStatsCalculator } from '../src/aggregate/timer-stats'
import type { HistogramConfig } from '../src/config/schema'

// Expected values are Etsy statsd's own (test/process_metrics_tests.js) plus hand-worked cases.

function stats(
  values: number[],
  opts: { pct?: number[]; count?: number; interval?: number; histogram?: HistogramConfig; only?: string[]; name?: string } = {},
): Record<string, number> {
  const calc = new TimerStatsCalculator(opts.pct ?? [], opts.histogram ?? [], opts.only)
  const out = new TimerColumns(calc.statNames)
  calc.compute(
    Float64Array.from(values),
    opts.count ?? values.length,
    opts.interval ?? 100,
    calc.binsFor(opts.name ?? 'a'),
    out,
  )
  out.endTimer('a')
  return Object.fromEntries(out.stats(0))
}

t.test('single value', async (t) => {
  t.same(stats([100]), { std: 0, upper: 100, lower: 100, count: 1, count_ps: 10, sum: 100, sum_squares: 10000, mean: 100, median: 100 })
})

t.test('several values, unsorted input', async (t) => {
  const s = stats([300, 100, 200])
  t.equal(s.std, 81.64965809277261)
  t.equal(s.upper, 300)
  t.equal(s.lower, 100)
  t.equal(s.count, 3)
  t.equal(s.count_ps, 30)
  t.equal(s.sum, 600)
  t.equal(s.sum_squares, 140000)
  t.equal(s.mean, 200)
  t.equal(s.median, 200)
  t.equal(stats([300, 200, 400, 100]).median, 250)
})

t.test('percentiles', async (t) => {
  const one = stats([100], { pct: [90, 80] })
  t.match(one, { count_90: 1, mean_90: 100, upper_90: 100, sum_90: 100, sum_squares_90: 10000, mean_80: 100, upper_80: 100, sum_80: 100 })
  const three = stats([100, 200, 300], { pct: [90, 80] })
  t.match(three, { count_90: 3, mean_90: 200, upper_90: 300, sum_90: 600, count_80: 2, mean_80: 150, upper_80: 200, sum_80: 300, sum_squares_80: 50000 })
})

t.test('sample-rate-adjusted count only changes count and count_ps', async (t) => {
  const s = stats([100, 200, 300], { pct: [90, 80], count: 50 })
  t.match(s, { count: 50, count_ps: 500, mean_90: 200, upper_90: 300, sum_90: 600, mean_80: 150, upper_80: 200, sum_80: 300 })
})

t.test('top percentiles', async (t) => {
  t.match(stats([100], { pct: [-10] }), { count_top10: 1, mean_top10: 100, lower_top10: 100, sum_top10: 100 })
  t.match(stats([10, 10, 10, 10, 10, 10, 10, 10, 100, 200], { pct: [-20] }), {
    count_top20: 2,
    mean_top20: 150,
    lower_top20: 100,
    sum_top20: 300,
    sum_squares_top20: 50000,
  })
  // Etsy yields NaN here (it reads cumulative[-1]); every value is in the top 90% of two.
  t.match(stats([1, 3], { pct: [-90] }), { count_top90: 2, sum_top90: 4, mean_top90: 2, lower_top90: 1, sum_squares_top90: 10 })
})

t.test('decimal percentile names and skipped empty percentiles', async (t) => {
  const values = Array.from({ length: 1000 }, (_, i) => i + 1)
  const s = stats(values, { pct: [99.9, 0.01] })
  t.equal(s.count_99_9, 999)
  t.equal(s.upper_99_9, 999)
  t.notOk('count_0_01' in s, '0.01% of 1000 values rounds to none: skipped')
})

t.test('rounding to nearest rank uses Math.round', async (t) => {
  // 90% of 5 = 4.5 -> 5 values; 50% of 5 = 2.5 -> 3 values
  const s = stats([1, 2, 3, 4, 5], { pct: [90, 50] })
  t.equal(s.count_90, 5)
  t.equal(s.count_50, 3)
  t.equal(s.upper_50, 3)
})

t.test('floating point sums are accumulated as Etsy does', async (t) => {
  const s = stats([0.1, 0.2, 0.3], { pct: [-50] })
  t.equal(s.sum, 0.1 + 0.2 + 0.3)
  t.equal(s.mean, (0.1 + 0.2 + 0.3) / 3)
  // top 50% of 3 = 2 values: (0.1+0.2+0.3) - 0.1
  t.equal(s.sum_top50, 0.1 + 0.2 + 0.3 - 0.1)
})

t.test('histogram bins, first matching rule wins', async (t) => {
  const histogram: HistogramConfig = [
    { metric: 'foo', bins: [] },
    { metric: 'abcd', bins: [1, 5, 'inf'] },
    { metric: 'abc', bins: [1, 2.21, 'inf'] },
    { metric: 'a', bins: [1, 2] },
  ]
  const a = stats([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], { histogram, name: 'a' })
  t.equal(a['histogram.bin_1'], 0)
  t.equal(a['histogram.bin_2'], 1)
  t.notOk('histogram.bin_inf' in a)
  const abc = stats([0.1234, 2.89, 4, 6, 8], { histogram, name: 'abc' })
  t.same(
    Object.keys(abc).filter((k) => k.startsWith('histogram.')),
    ['histogram.bin_1', 'histogram.bin_2_21', 'histogram.bin_inf'],
  )
  t.equal(abc['histogram.bin_1'], 1)
  t.equal(abc['histogram.bin_2_21'], 0)
  t.equal(abc['histogram.bin_inf'], 4)
  for (const name of ['foo', 'barbazfoobar', 'xyz']) {
    t.notOk(Object.keys(stats([0, 2, 4], { histogram, name })).some((k) => k.startsWith('histogram')), name)
  }
})

t.test('idle timer: only count and count_ps', async (t) => {
  t.same(stats([], { pct: [90] }), { count: 0, count_ps: 0 })
})

t.test('calculatedTimerMetrics keeps only the listed statistics', async (t) => {
  const s = stats([1, 2, 3], { pct: [90, 99.9, -50], only: ['count', 'upper_percent', 'lower_percent', 'histogram'] })
  t.same(Object.keys(s).sort(), ['count', 'lower_top50', 'upper_90', 'upper_99_9'])
})

t.test('statistics come out in Etsy order', async (t) => {
  t.same(Object.keys(stats([1, 2], { pct: [90] })), [
    'count_90', 'mean_90', 'upper_90', 'sum_90', 'sum_squares_90',
    'std', 'upper', 'lower', 'count', 'count_ps', 'sum', 'sum_squares', 'mean', 'median',
  ])
})
