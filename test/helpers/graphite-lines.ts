/** "name value timestamp" lines -> name -> value (string, as printed). Throws on a malformed line. */
export function graphiteValues(text: string): Map<string, string> {
  const values = new Map<string, string>()
  for (const line of text.split('\n')) {
    if (line === '') continue
    const parts = line.split(' ')
    if (parts.length !== 3 || !/^\d+$/.test(parts[2]!)) throw new Error(`malformed graphite line: ${JSON.stringify(line)}`)
    values.set(parts[0]!, parts[1]!)
  }
  return values
}

/**
 * Drops the lines whose value depends on timing (calculation and processing
 * times, health), and the server's own metrics (Etsy has none of them).
 */
export function stableValues(text: string): Map<string, string> {
  return withoutTimings(graphiteValues(text))
}

/** The same, for values already read. */
export function withoutTimings(values: Map<string, string>): Map<string, string> {
  const kept = withoutSelfMetrics(values)
  for (const name of kept.keys()) {
    if (/(calculationtime|processing_time|graphiteStats\.(last_exception|last_flush|flush_time|flush_length))(\.[^.;]+)?$/.test(name)) {
      kept.delete(name)
    }
  }
  return kept
}

/** Names under the stats prefix that Etsy 0.9 sends too (the rest are our self-metrics). */
const ETSY_STATS = /^(numStats|processing_time|graphiteStats\.\w+|bad_lines_seen|packets_received|metrics_received)$/
const MARKER = 'graphiteStats.calculationtime'

/**
 * The server's own metrics (FlushData.selfMetrics) in `values`, by their name
 * relative to the stats prefix ("queue.dropped_packets"): names under the
 * stats prefix ("stats.statsd." in the legacy namespace) that Etsy does not
 * send. Prefix and suffix are read off the calculationtime line, which every
 * Graphite flush has.
 */
export function selfMetrics(values: Map<string, string>): Map<string, { line: string; value: number }> {
  const found = new Map<string, { line: string; value: number }>()
  const marker = [...values.keys()].find((name) => name.includes(MARKER))
  if (marker === undefined) return found
  const prefix = marker.slice(0, marker.indexOf(MARKER))
  const suffix = marker.slice(marker.indexOf(MARKER) + MARKER.length)
  for (const [line, value] of values) {
    if (!line.startsWith(prefix) || !line.endsWith(suffix)) continue
    const name = line.slice(prefix.length, line.length - suffix.length)
    if (!ETSY_STATS.test(name)) found.set(name, { line, value: Number(value) })
  }
  return found
}

/** `values` without the server's own metrics. */
export function withoutSelfMetrics(values: Map<string, string>): Map<string, string> {
  const kept = new Map(values)
  for (const { line } of selfMetrics(values).values()) kept.delete(line)
  return kept
}
