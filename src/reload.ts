import { ConfigError } from './config/errors'
import { loadConfig } from './config/load'
import type { Logger } from './log'
import type { StatsdServer } from './server'

/**
 * SIGHUP: re-reads the config file and hands it to the running server. A
 * config that does not load is reported with the same messages as at
 * start-up, and the running one is kept: a typo must not stop the daemon.
 */
export function reloadFromFile(path: string | undefined, server: Pick<StatsdServer, 'reload'>, log: Logger): void {
  if (path === undefined) {
    log.warn('SIGHUP: started without a config file, nothing to re-read')
    return
  }
  log.info({ config: path }, 'SIGHUP: re-reading the configuration')
  let loaded: ReturnType<typeof loadConfig>
  try {
    loaded = loadConfig(path)
  } catch (err) {
    const problems = err instanceof ConfigError ? err.message.split('\n') : [String(err)]
    log.error({ problems }, 'reload: invalid configuration, the running configuration is kept')
    return
  }
  for (const warning of loaded.warnings) log.warn(warning)
  server.reload(loaded.config)
}
