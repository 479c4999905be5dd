import { existsSync } from 'node:fs'
import { dirname } from 'node:path'
import { getSystemErrorMap } from 'node:util'

/** sysexits.h: the address is unavailable (in use, not local, cannot be resolved). */
export const EX_UNAVAILABLE = 69
/** sysexits.h: the Unix socket file cannot be created. */
export const EX_CANTCREAT = 73

/** Errors about the socket file's path rather than the address. */
const FILE_ERRORS = new Set(['ENOENT', 'EACCES', 'EPERM', 'EROFS', 'ENOTDIR', 'ENAMETOOLONG', 'ELOOP', 'EEXIST'])

/**
 * A listener that could not start. The message is one line for the person at
 * the terminal: `cannot listen on tcp 127.0.0.1:8125: address already in use`.
 */
export class ListenError extends Error {
  readonly exitCode: number

  /**
   * `listener` as in Listener.description ("tcp 127.0.0.1:8125", "unix /run/x.sock");
   * `cause` is the system error, or a sentence when there is none.
   */
  constructor(listener: string, cause: unknown, exitCode?: number) {
    super(`cannot listen on ${listener}: ${describeCause(listener, cause)}`, { cause })
    this.name = 'ListenError'
    const code = errorCode(cause)
    this.exitCode =
      exitCode ?? (/^unix(gram)? /.test(listener) && code !== undefined && FILE_ERRORS.has(code) ? EX_CANTCREAT : EX_UNAVAILABLE)
  }
}

function describeCause(listener: string, cause: unknown): string {
  if (typeof cause === 'string') return cause
  const err = cause as NodeJS.ErrnoException & { hostname?: string }
  if (err.code === 'ENOTFOUND' || err.code === 'EAI_AGAIN' || err.code === 'EAI_NONAME') {
    return `cannot resolve the address${err.hostname === undefined ? '' : ` "${err.hostname}"`}`
  }
  if (/^unix(gram)? /.test(listener)) {
    // libuv reports a missing directory as EACCES when binding a Unix socket.
    const dir = dirname(listener.slice(listener.indexOf(' ') + 1))
    if ((err.code === 'EACCES' || err.code === 'ENOENT') && !existsSync(dir)) return `the directory ${dir} does not exist`
    if (err.code === 'EACCES') return `permission denied (can this user create files in ${dir}?)`
  }
  const known = typeof err.errno === 'number' ? getSystemErrorMap().get(err.errno) : undefined
  if (known !== undefined) return known[1]
  return err instanceof Error ? err.message : String(cause)
}

function errorCode(cause: unknown): string | undefined {
  const code = (cause as NodeJS.ErrnoException | undefined)?.code
  return typeof code === 'string' ? code : undefined
}
