import fs from 'node:fs'
import util from 'node:util'
import { nativeFunctions } from '../../core/native-addon'

/**
 * One read(2) of a non-blocking socket into `into`: the bytes read, 0 at
 * EOF, -1 when nothing is queued; throws on an error. How a held client is
 * read (read-holds.ts), a few hundred times a second per busy client.
 */
export type ReadSocket = (fd: number, into: Buffer) => number

/** Without the addon: fs.readSync, which costs a request object per read and an exception (with its stack) when nothing is queued. */
export const readSocketWithFs: ReadSocket = (fd, into) => {
  try {
    return fs.readSync(fd, into, 0, into.length, null)
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EAGAIN') return -1
    throw err
  }
}

/** The addon's readSocket (native/statsd_recv.c), or null without it. Its errors get the code fs.readSync's have (ECONNRESET...). */
export const nativeReadSocket: ReadSocket | null = (() => {
  const native = nativeFunctions<{ readSocket: ReadSocket }>(['readSocket'])
  if (!('addon' in native)) return null
  const read = native.addon.readSocket
  return (fd, into) => {
    try {
      return read(fd, into)
    } catch (err) {
      const e = err as NodeJS.ErrnoException
      if (typeof e.errno === 'number' && e.errno > 0) Object.assign(e, { errno: -e.errno, code: util.getSystemErrorName(-e.errno), syscall: 'read' })
      throw e
    }
  }
})()

/**
 * The addon's when it is there: the unix bench (bench:e2e, 300k metrics/s
 * on one connection) cost 10 to 20 % less CPU with it.
 */
export const readSocket: ReadSocket = nativeReadSocket ?? readSocketWithFs
