import { isDeepStrictEqual } from 'node:util'
import type { Config } from './schema'

/*
 * What SIGHUP may change in a running server. Everything else (listeners,
 * backends, queue, flush interval, names...) is bound into running objects
 * and sockets: a change there is reported and ignored until a restart.
 */

const RELOADABLE = [
  'auth',
  'adminAuth',
  'percentThreshold',
  'histogram',
  'calculatedTimerMetrics',
  'deleteIdleStats',
  'deleteCounters',
  'deleteTimers',
  'deleteSets',
  'deleteGauges',
  'gaugesMaxTTL',
] as const satisfies readonly (keyof Config)[]

export type ReloadableSettings = Pick<Config, (typeof RELOADABLE)[number]>

/** log.level and log.dumpMessages reload; log.pretty does not. */
const RELOADABLE_LOG = ['level', 'dumpMessages'] as const satisfies readonly (keyof Config['log'])[]

/** The settings that differ between `running` and `next` and need a restart, by name. */
export function restartOnlyChanges(running: Config, next: Config): string[] {
  const skip = new Set<string>(RELOADABLE)
  const changed: string[] = []
  for (const key of new Set([...Object.keys(running), ...Object.keys(next)]) as Set<keyof Config>) {
    if (skip.has(key)) continue
    if (key === 'log') {
      const strip = (log: Config['log']): object => ({ ...log, level: undefined, dumpMessages: undefined })
      if (!isDeepStrictEqual(strip(running.log), strip(next.log))) changed.push('log.pretty')
    } else if (!isDeepStrictEqual(running[key], next[key])) {
      changed.push(key)
    }
  }
  return changed
}

/** The config in effect after a reload: `running`, with next's reloadable settings. */
export function withReloadedSettings(running: Config, next: Config): Config {
  const merged: Config = { ...running, log: { ...running.log } }
  for (const key of RELOADABLE) (merged as Record<string, unknown>)[key] = next[key]
  for (const key of RELOADABLE_LOG) (merged.log as Record<string, unknown>)[key] = next.log[key]
  return merged
}
