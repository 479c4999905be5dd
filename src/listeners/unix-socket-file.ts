import fs from 'node:fs'
import { EX_CANTCREAT, ListenError } from './listen-error'

/*
 * The life of a unix socket file: clear a stale one before binding (never a
 * live one, never a non-socket), set its mode, and remove it at the end only
 * if it is still ours (same inode).
 */

export type ProbeAnswer = { state: 'free' } | { state: 'in use' | 'unknown'; detail: string }

/**
 * A socket file left by a process that died would make bind fail with
 * EADDRINUSE. Remove it only when `probe` proves nobody serves it.
 */
export async function clearStaleSocket(
  path: string,
  what: string,
  probe: (path: string) => Promise<ProbeAnswer> | ProbeAnswer,
): Promise<void> {
  let stat: fs.Stats
  try {
    stat = fs.lstatSync(path)
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return
    throw new ListenError(what, err)
  }
  if (!stat.isSocket()) {
    throw new ListenError(what, 'the path exists and is not a socket (refusing to remove it)', EX_CANTCREAT)
  }
  const answer = await probe(path)
  if (answer.state === 'in use') {
    throw new ListenError(what, `already in use by a running process (${answer.detail})`)
  }
  if (answer.state === 'unknown') {
    throw new ListenError(what, `cannot tell whether the existing socket is in use (${answer.detail})`)
  }
  try {
    fs.unlinkSync(path)
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw new ListenError(what, err)
  }
}

/**
 * Sets the mode of a freshly bound socket file and returns how to remove it
 * later (only while it is still the same file: another process may have
 * replaced it). Also removes it at process exit, as handles are not closed then.
 */
export function claimSocketFile(path: string, mode: string | undefined): { remove(): void } {
  if (mode !== undefined) fs.chmodSync(path, parseInt(mode, 8))
  const inode = fs.statSync(path).ino
  const removeFile = (): void => {
    try {
      if (fs.statSync(path).ino === inode) fs.unlinkSync(path)
    } catch {
      // Already gone or not ours to remove.
    }
  }
  process.on('exit', removeFile)
  return {
    remove: () => {
      process.removeListener('exit', removeFile)
      removeFile()
    },
  }
}
