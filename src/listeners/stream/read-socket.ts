import fs from 'node:fs'
import { nativeFunctions } from '../../core/native-addon'

/**
 * One read(2) of a non-blocking socket into `into`: the bytes read, 0 at
 * EOF, or a negative errno (-EAGAIN when nothing is queued), as libuv
 * reports errors. How a held client is read (read-holds.ts), a few hundred
 * times a second per busy client.
 */
export type ReadSocket = (fd: number, into: Buffer) => number

/** Without the addon: fs.readSync, which costs a request object per read and an exception (with its stack) when nothing is queued. */
export const readSocketWithFs: ReadSocket = (fd, into) => {
  try {
    return fs.readSync(fd, into, 0, into.length, null)
  } catch (err) {
    const errno = (err as NodeJS.ErrnoException).errno
    if (typeof errno === 'number' && errno < 0) return errno
    throw err
  }
}

/** The addon's readSocket (native/statsd_recv.c), or null without it. */
export const nativeReadSocket: ReadSocket | null = (() => {
  const native = nativeFunctions<{ readSocket: ReadSocket }>(['readSocket'])
  return 'addon' in native ? native.addon.readSocket : null
})()

/**
 * The addon's when it is there: the unix bench (bench:e2e, 300k metrics/s
 * on one connection) cost 10 to 20 % less CPU with it.
 */
export const readSocket: ReadSocket = nativeReadSocket ?? readSocketWithFs
