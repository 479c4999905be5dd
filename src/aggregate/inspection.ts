import type { BadLineSample } from '../core/server-control'
import type { KeyEntry } from './slots'

/*
 * What the admin plane reads from the aggregator, kept off the hot path: bad
 * lines are rare, and the busiest keys are picked once per flush from a
 * counter the aggregator bumps per value.
 */

export const RECENT_BAD_LINES = 20
const BAD_LINE_SHOWN_BYTES = 200
export const BUSIEST_KEYS = 10

/** Bad lines by reason since start, and the latest few, cut short. */
export class BadLineLog {
  readonly byReason: Record<string, number> = {}
  private readonly recent: BadLineSample[] = []

  /** `line` is what may be shown of it (tokens masked), `bytes` its whole length. */
  add(reason: string, line: string | null, bytes = 0, count = 1): void {
    this.byReason[reason] = (this.byReason[reason] ?? 0) + count
    if (line === null) return
    const shown = line.slice(0, BAD_LINE_SHOWN_BYTES)
    this.recent.push({ at: Date.now(), reason, line: bytes > shown.length ? shown + '…' : shown })
    if (this.recent.length > RECENT_BAD_LINES) this.recent.shift()
  }

  latest(): BadLineSample[] {
    return this.recent.slice()
  }
}

/** Entries looked at per step of busiestKeys. */
const ENTRIES_PER_STEP = 4096

/**
 * The keys that received the most values since the last call, busiest
 * first, handed to `done`; resets every key's count. A step at a time (it
 * runs during a flush, between other work), so counts of values arriving
 * meanwhile may go to either interval: fine for a figure on a status page.
 * `entries` is read by index, keys added meanwhile included: a Map's
 * iterator inside a generator allocated a result object per key (5 MB a
 * flush at 100k keys).
 */
export function* busiestKeys(entries: readonly KeyEntry[], done: (top: { name: string; values: number }[]) => void): Generator<void> {
  const top: { name: string; values: number }[] = []
  let step = 0
  for (let i = 0; i < entries.length; i++) {
    if (++step === ENTRIES_PER_STEP) {
      step = 0
      yield
    }
    const entry = entries[i]!
    const values = entry.values
    if (values === 0) continue
    entry.values = 0
    if (top.length === BUSIEST_KEYS && values <= top[BUSIEST_KEYS - 1]!.values) continue
    let at = top.length
    while (at > 0 && top[at - 1]!.values < values) at--
    top.splice(at, 0, { name: entry.name, values })
    if (top.length > BUSIEST_KEYS) top.pop()
  }
  done(top)
}

/** Etsy's existing_stats(): the exact name, plus, for "a.b.*", every name that starts with "a.b.". */
export function matchingNames(names: Iterable<string>, has: (name: string) => boolean, pattern: string): string[] {
  const matches = has(pattern) ? [pattern] : []
  if (pattern.endsWith('.*')) {
    const folder = pattern.slice(0, -1)
    for (const name of names) if (name.startsWith(folder)) matches.push(name)
  }
  return matches
}
