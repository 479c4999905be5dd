import { z } from 'zod'

/*
 * statsgod's Graphite namespace (its `namespace:` section), as a Graphite
 * backend option: names are [prefix.][typeprefix.]key[.typesuffix][.suffix],
 * an empty string dropping that part. Defaults are statsgod's.
 */

const perType = (defaults: Record<'counters' | 'gauges' | 'rates' | 'sets' | 'timers', string>) =>
  z
    .strictObject({
      counters: z.string().default(defaults.counters),
      gauges: z.string().default(defaults.gauges),
      rates: z.string().default(defaults.rates),
      sets: z.string().default(defaults.sets),
      timers: z.string().default(defaults.timers),
    })
    .default(defaults)

export const statsgodNamespaceSchema = z.strictObject({
  prefix: z.string().default('stats'),
  prefixes: perType({ counters: 'counts', gauges: 'gauges', rates: 'rates', sets: 'sets', timers: 'timers' }),
  suffix: z.string().default(''),
  suffixes: perType({ counters: '', gauges: '', rates: '', sets: '', timers: '' }),
})

export type StatsgodNamespace = z.output<typeof statsgodNamespaceSchema>
