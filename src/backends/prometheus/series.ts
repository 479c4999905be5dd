import { splitTags } from '../tags'

/*
 * The series model both Prometheus backends share (the scrape endpoint and
 * remote write): statsd names become metric names as statsd_exporter makes
 * them without a mapping file, Graphite and DogStatsD tags become labels,
 * and each metric name is one family of one kind. What Prometheus would
 * refuse is fixed here, once, for both: characters invalid in a label name
 * (such as ":", which is valid only in metric names), and tags whose names
 * the backend sets itself (instance, job, le, quantile), which become
 * exported_<name> as Prometheus renames clashing target labels.
 */

export type Kind = 'counter' | 'gauge' | 'summary' | 'histogram'

/** Every character outside [a-zA-Z0-9_:] becomes "_", and a leading digit gets a "_" in front. */
export function promName(name: string): string {
  const clean = name.replace(/[^a-zA-Z0-9_:]/g, '_')
  return /^[0-9]/.test(clean) ? '_' + clean : clean
}

/** A label name: as promName, but ":" is not allowed either. */
export function labelName(name: string): string {
  const clean = name.replace(/[^a-zA-Z0-9_]/g, '_')
  return /^[0-9]/.test(clean) ? '_' + clean : clean
}

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/
/** A UTF-16 surrogate without its other half: not encodable as UTF-8. */
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/

export type LabelPair = readonly [name: string, value: string]

/** Byte order of label names, as remote write requires and the exposition format keeps. */
export const byName = (a: LabelPair, b: LabelPair): number => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0)

/**
 * Tags -> labels, sorted by name: names fixed (labelName), a name the
 * backend sets itself (or any name starting with "__", reserved by
 * Prometheus) prefixed with "exported_", and tags with an empty value left
 * out (an empty label is no label in Prometheus).
 */
export function tagLabels(tags: readonly [string, string][], reserved: ReadonlySet<string>): LabelPair[] {
  const out: LabelPair[] = []
  for (const [k, v] of tags) {
    if (v === '') continue
    let name = labelName(k)
    if (reserved.has(name) || name.startsWith('__')) name = 'exported_' + name
    out.push([name, v])
  }
  return out.sort(byName)
}

/** Why a series cannot be sent (a receiver would refuse the whole request for it), or null if it can. */
export function invalidSeries(name: string, labels: readonly LabelPair[]): string | null {
  if (!METRIC_NAME.test(name)) return `invalid metric name "${name}"`
  for (let i = 0; i < labels.length; i++) {
    const [label, value] = labels[i]!
    if (i > 0 && labels[i - 1]![0] === label) return `label "${label}" twice (tags that differ only in characters a label name cannot have)`
    if (LONE_SURROGATE.test(value)) return `label "${label}" has a value that is not valid UTF-8`
  }
  return null
}

interface Family<S> {
  kind: Kind
  series: Map<string, S>
}

/**
 * The series of every family, keyed by metric name, then by label set. A
 * name already used by another kind is refused (counted in `conflicts`), as
 * statsd_exporter refuses it.
 */
export class SeriesTable<S> {
  readonly families = new Map<string, Family<S>>()
  conflicts = 0
  /**
   * suffix -> kind -> statsd metric -> its series: a metric seen before is
   * found without splitting tags or building its label key again (most of
   * the cost of a flush of 100k counters). Emptied whenever a series is
   * removed (see forgetLookups).
   */
  private lookups = new Map<string, Map<Kind, Map<string, S>>>()

  constructor(private readonly reserved: ReadonlySet<string>) {}

  /**
   * The series of statsd metric `metric` ("name;tag=value..."), named
   * promName(name) + suffix, created by `create` the first time; null if the
   * name is taken by another kind. `create` also gets the statsd name without its tags.
   */
  get(metric: string, suffix: string, kind: Kind, create: (name: string, labels: LabelPair[], base: string) => S): S | null {
    let bySuffix = this.lookups.get(suffix)
    if (bySuffix === undefined) this.lookups.set(suffix, (bySuffix = new Map()))
    let byMetric = bySuffix.get(kind)
    if (byMetric === undefined) bySuffix.set(kind, (byMetric = new Map()))
    const found = byMetric.get(metric)
    if (found !== undefined) return found
    const s = this.find(metric, suffix, kind, create)
    if (s !== null) byMetric.set(metric, s)
    return s
  }

  /** Series were removed: the lookups may point at them. */
  forgetLookups(): void {
    this.lookups = new Map()
  }

  private find(metric: string, suffix: string, kind: Kind, create: (name: string, labels: LabelPair[], base: string) => S): S | null {
    const { base, tags } = splitTags(metric)
    const name = promName(base) + suffix
    let family = this.families.get(name)
    if (family === undefined) {
      family = { kind, series: new Map() }
      this.families.set(name, family)
    } else if (family.kind !== kind) {
      this.conflicts++
      return null
    }
    if (tags.length === 0) {
      let s = family.series.get('')
      if (s === undefined) family.series.set('', (s = create(name, [], base)))
      return s
    }
    // Keyed by the labels, so that the same tags in another order are the same series.
    const labels = tagLabels(tags, this.reserved)
    const key = labels.map(([k, v]) => `${k}\u0000${v}`).join('\u0000')
    let s = family.series.get(key)
    if (s === undefined) family.series.set(key, (s = create(name, labels, base)))
    return s
  }

  /** Removes every series `gone` says is gone, yielding now and then. */
  *remove(gone: (s: S) => boolean, step = 250): Generator<void> {
    let n = 0
    for (const [name, family] of this.families) {
      for (const [key, s] of family.series) {
        if (gone(s)) {
          family.series.delete(key)
          this.forgetLookups()
        }
        if (++n % step === 0) yield
      }
      if (family.series.size === 0) this.families.delete(name)
    }
  }
}
