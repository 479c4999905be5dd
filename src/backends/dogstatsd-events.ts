import type { DogStatsdEvent, ServiceCheck } from '../parse/dogstatsd-events'

/*
 * How backends with a place for them show DogStatsD events and service
 * checks. A service check is a gauge of its status (0 OK, 1 WARNING,
 * 2 CRITICAL, 3 UNKNOWN) named `service_check`, labelled with the check's
 * name, its host and its tags ("k:v"; a tag without a value is left out).
 */

/** The check's gauge as a Graphite-tagged name (`service_check;check=db.up;env=prod`), for splitTags. */
export function serviceCheckSeries(check: ServiceCheck): string {
  let name = 'service_check;check=' + tagValue(check.name)
  if (check.hostname !== undefined && check.hostname !== '') name += ';host=' + tagValue(check.hostname)
  for (const [key, value] of keyedTags(check.tags)) if (key !== 'check' && key !== 'host') name += ';' + tagValue(key) + '=' + tagValue(value)
  return name
}

/** The "k:v" tags as pairs (the first ":" separates them); tags without a value are left out. */
export function keyedTags(tags: readonly string[]): [string, string][] {
  const out: [string, string][] = []
  for (const tag of tags) {
    const colon = tag.indexOf(':')
    if (colon > 0 && colon < tag.length - 1) out.push([tag.slice(0, colon), tag.slice(colon + 1)])
  }
  return out
}

/** Graphite tag syntax has no room for ";" or "=" in a tag. */
function tagValue(text: string): string {
  return text.replace(/[;=]/g, '_')
}

/** The event's fixed attributes that are tags of the InfluxDB point. */
export function eventAttributes(event: DogStatsdEvent): [string, string][] {
  const out: [string, string][] = [
    ['alert_type', event.alertType],
    ['priority', event.priority],
  ]
  if (event.hostname !== undefined && event.hostname !== '') out.push(['host', event.hostname])
  if (event.sourceType !== undefined && event.sourceType !== '') out.push(['source_type', event.sourceType])
  if (event.aggregationKey !== undefined && event.aggregationKey !== '') out.push(['aggregation_key', event.aggregationKey])
  return out
}
