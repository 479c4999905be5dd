import v8 from 'node:v8'
import { ConfigError } from './config-error'
import type { ChildAnswer } from './load-apart'
import { loadConfig } from './load'

/* The process load-apart.ts starts: loads the config named on its command line (none: the built-in default). */

let answer: ChildAnswer
try {
  answer = { loaded: loadConfig(process.argv[2]) }
} catch (err) {
  if (!(err instanceof ConfigError)) throw err
  answer = { configError: err.message }
}
process.stdout.write(v8.serialize(answer))
