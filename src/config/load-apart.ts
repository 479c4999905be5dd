import { execFile, execFileSync } from 'node:child_process'
import path from 'node:path'
import v8 from 'node:v8'
import { ConfigError } from './config-error'
import type { LoadedConfig } from './load'

/*
 * The running server never loads the config's validator: zod and the
 * schema built from it stay resident once loaded, about 11 MB of the
 * server's idle RSS (README: Memory), for a config read once at start-up
 * and at each SIGHUP. loadConfig runs in a short-lived node process of
 * its own instead, which hands the validated config back (v8.serialize) or
 * the ConfigError's message. The config is plain data, so it crosses as
 * it is.
 */

const CHILD = path.join(__dirname, 'load-child.js')

/** What load-child writes on its stdout. */
export type ChildAnswer = { loaded: LoadedConfig } | { configError: string }

const args = (file: string | undefined): string[] => [CHILD, ...(file !== undefined ? [file] : [])]
const OPTIONS = { maxBuffer: 256 * 1024 * 1024 }

function answerOf(out: Buffer): LoadedConfig {
  const answer = v8.deserialize(out) as ChildAnswer
  if ('configError' in answer) throw new ConfigError(answer.configError)
  return answer.loaded
}

/**
 * loadConfig(`file`), in a process of its own: the same config, the same
 * ConfigError (thrown here); any other failure of the loader is thrown as
 * an Error (its stack went to our stderr).
 */
export function loadConfigApart(file?: string): LoadedConfig {
  let out: Buffer
  try {
    out = execFileSync(process.execPath, args(file), { ...OPTIONS, stdio: ['ignore', 'pipe', 'inherit'] })
  } catch (err) {
    throw new Error(`the config loader failed: ${(err as Error).message}`)
  }
  return answerOf(out)
}

/** loadConfigApart without blocking the event loop meanwhile (a reload: the loader takes about a third of a second). */
export function loadConfigApartLater(file: string): Promise<LoadedConfig> {
  return new Promise((resolve, reject) => {
    const child = execFile(process.execPath, args(file), { ...OPTIONS, encoding: 'buffer' }, (err, out, stderr) => {
      if (err !== null) reject(new Error(`the config loader failed: ${err.message}${stderr.length > 0 ? `\n${stderr.toString()}` : ''}`))
      else {
        try {
          resolve(answerOf(out))
        } catch (e) {
          reject(e as Error)
        }
      }
    })
    child.stdin?.end()
  })
}
