/*
 * Metric names exactly as Etsy statsd 0.9 builds them. This runs only the
 * first time a raw key is seen (results are cached by raw bytes), so it can
 * afford strings and regular expressions, which keeps it identical to Etsy.
 */

const WHITESPACE_RUNS = /\s+/g
const SLASHES = /\//g
const OUTSIDE_GRAPHITE_ALPHABET = /[^a-zA-Z_\-0-9.;=]/g

/** Etsy's key sanitising: whitespace runs -> "_", "/" -> "-", then drop anything else odd. */
export function sanitizeKeyName(key: string): string {
  return key
    .replace(WHITESPACE_RUNS, '_')
    .replace(SLASHES, '-')
    .replace(OUTSIDE_GRAPHITE_ALPHABET, '')
}

/**
 * DogStatsD tags (`|#k:v,k2:v2`) become Graphite tags (`;k=v;k2=v2`) as in
 * Etsy 0.9: the first ":" of a tag (name from value) becomes "="; later ones
 * stay, for sanitising to drop. Two deliberate differences, both because
 * Etsy's output would make carbon reject the line: every ";" in a tag
 * becomes "_" (Etsy replaces only the first, so the rest split the tag), and
 * empty tags (from ",," or a trailing ",") are skipped rather than sent as ";".
 */
export function appendDogStatsdTags(key: string, rawTags: string): string {
  let result = key
  for (const tag of rawTags.split(',')) {
    if (tag.length === 0) continue
    result += ';' + tag.replace(/;/g, '_').replace(':', '=')
  }
  return result
}

/**
 * The stored name of a metric from the raw key and raw tag bytes of a line.
 * Returns "" when nothing usable is left (the caller treats that as a bad line).
 */
export function buildKeyName(
  buf: Buffer,
  keyStart: number,
  keyEnd: number,
  tagsStart: number,
  tagsEnd: number,
  sanitize: boolean,
): string {
  let key = buf.toString('utf8', keyStart, keyEnd)
  if (tagsEnd > tagsStart) key = appendDogStatsdTags(key, buf.toString('utf8', tagsStart, tagsEnd))
  return sanitize ? sanitizeKeyName(key) : key
}
