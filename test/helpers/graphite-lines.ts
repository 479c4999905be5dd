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

/** Drops the lines whose value depends on timing (calculation and processing times, health). */
export function stableValues(text: string): Map<string, string> {
  return withoutTimings(graphiteValues(text))
}

/** The same, for values already read. */
export function withoutTimings(values: Map<string, string>): Map<string, string> {
  const kept = new Map(values)
  for (const name of kept.keys()) {
    if (/(calculationtime|processing_time|graphiteStats\.(last_exception|last_flush|flush_time|flush_length))(\.[^.;]+)?$/.test(name)) {
      kept.delete(name)
    }
  }
  return kept
}
