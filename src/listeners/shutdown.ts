import { setImmediate as nextTurn } from 'node:timers/promises'

/** How long listeners keep reading after SIGTERM when no time is given (the config's shutdownTimeoutMs default). */
export const DEFAULT_SHUTDOWN_TIMEOUT_MS = 10_000

/**
 * Resolves after at least one whole poll phase of the event loop, i.e. once
 * every socket has had the chance to be read (or a pending connection to be
 * accepted). One setImmediate may run in the check phase of the very turn
 * whose poll phase has just passed; the second cannot.
 */
export async function afterPoll(): Promise<void> {
  await nextTurn()
  await nextTurn()
}
