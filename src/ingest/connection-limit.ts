import type { ListenerConfig } from '../config/schema'

/**
 * Descriptors kept out of the stream listeners' reach: Node's own (about 20),
 * the listeners, backend connections, log files, the admin server. Without a
 * reserve, a flood of clients makes the Graphite connection fail with EMFILE.
 */
const RESERVED_FDS = 128

/**
 * The listeners with `maxConnections` filled in where unset: what the
 * descriptor limit leaves after the reserve, shared between the stream
 * listeners (`fdLimit`: see openFileLimit()). Unchanged when the limit is
 * unknown or unlimited.
 */
export function withDefaultMaxConnections(
  listeners: readonly ListenerConfig[],
  fdLimit: number | undefined,
): ListenerConfig[] {
  const streams = listeners.filter((l) => l.type !== 'udp').length
  if (fdLimit === undefined || streams === 0) return [...listeners]
  const reserve = Math.min(RESERVED_FDS, Math.floor(fdLimit / 2))
  const share = Math.max(1, Math.floor((fdLimit - reserve) / streams))
  return listeners.map((l) => (l.type === 'udp' || l.maxConnections !== undefined ? l : { ...l, maxConnections: share }))
}
