import path from 'node:path'

/*
 * The native addon (native/: recvmmsg datagram reading and the line fast
 * path), loaded once and shared by the listeners and the parser. It may be
 * missing (no compiler at install time) or turned off with
 * STATSD_TS_NATIVE=off: each user then falls back to plain Node, and says so.
 * Each user declares the functions it needs and checks they are there (an
 * addon built from older sources may lack some).
 */

const ADDON_PATH = path.resolve(__dirname, '../../../native/build/Release/statsd_recv.node')

export type NativeAddon = Readonly<Record<string, unknown>>

let loaded: { addon: NativeAddon } | { unavailable: string } | null = null

/** The addon, or why it cannot be used. */
export function nativeAddon(): { addon: NativeAddon } | { unavailable: string } {
  if (loaded === null) {
    if (process.env.STATSD_TS_NATIVE === 'off') {
      loaded = { unavailable: 'turned off by STATSD_TS_NATIVE=off' }
    } else {
      try {
        loaded = { addon: require(ADDON_PATH) as NativeAddon }
      } catch (err) {
        loaded = { unavailable: `cannot load ${ADDON_PATH}: ${(err as Error).message.split('\n')[0]}` }
      }
    }
  }
  return loaded
}

/** The addon as `T` if it has every function in `names`, or why not. */
export function nativeFunctions<T>(names: readonly (keyof T & string)[]): { addon: T } | { unavailable: string } {
  const native = nativeAddon()
  if ('unavailable' in native) return native
  const missing = names.filter((name) => typeof native.addon[name] !== 'function')
  if (missing.length > 0) return { unavailable: `${ADDON_PATH} lacks ${missing.join(', ')} (rebuild it: npm ci)` }
  return { addon: native.addon as T }
}
