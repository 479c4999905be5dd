import type { ListenerConfig, TcpListenerConfig, UnixListenerConfig } from '../../config/schema'
import type { Logger } from '../../log'

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
 * unknown or unlimited. Configured limits that add up to more than the
 * descriptors can serve are kept, with a warning: past the descriptor limit,
 * libuv closes new clients without telling anyone.
 */
export function withDefaultMaxConnections(
  listeners: readonly ListenerConfig[],
  fdLimit: number | undefined,
  log: Logger,
): ListenerConfig[] {
  const streams = listeners.filter(isStream).length
  if (fdLimit === undefined || streams === 0) return [...listeners]
  const reserve = Math.min(RESERVED_FDS, Math.floor(fdLimit / 2))
  const share = Math.max(1, Math.floor((fdLimit - reserve) / streams))
  const result = listeners.map((l) => (!isStream(l) || l.maxConnections !== undefined ? l : { ...l, maxConnections: share }))
  const total = result.reduce((sum, l) => sum + (isStream(l) ? l.maxConnections! : 0), 0)
  if (total > fdLimit - reserve) {
    log.warn(
      { maxConnections: total, fileDescriptorLimit: fdLimit, reserved: reserve },
      'listeners[].maxConnections add up to more than the file descriptor limit leaves: raise the limit or lower them (see README, "Sizing maxConnections")',
    )
  }
  return result
}

/** TCP and Unix stream listeners: the ones that hold a descriptor per client. */
export function isStream(l: ListenerConfig): l is TcpListenerConfig | UnixListenerConfig {
  return l.type === 'tcp' || l.type === 'unix'
}
