import { ConfigError } from './config/config-error'
import type { LoadedConfig } from './config/load'
import { loadConfigApartLater } from './config/load-apart'
import type { Logger } from './log'
import type { StatsdServer } from './server'

/** The reload in progress: SIGHUPs are taken in turn, so an older file never replaces a newer one. */
let reloading: Promise<void> = Promise.resolve()

/**
 * SIGHUP: re-reads the config file and hands it to the running server. A
 * config that does not load is reported with the same messages as at
 * start-up, and the running one is kept: a typo must not stop the daemon.
 * The file is read and validated in a process of its own
 * (config/load-apart.ts), without holding up the event loop.
 */
export function reloadFromFile(path: string | undefined, server: Pick<StatsdServer, 'reload'>, log: Logger): Promise<void> {
  if (path === undefined) {
    log.warn('SIGHUP: started without a config file, nothing to re-read')
    return reloading
  }
  reloading = reloading.then(async () => {
    log.info({ config: path }, 'SIGHUP: re-reading the configuration')
    let loaded: LoadedConfig
    try {
      loaded = await loadConfigApartLater(path)
    } catch (err) {
      const problems = err instanceof ConfigError ? err.message.split('\n') : [String(err)]
      log.error({ problems }, 'reload: invalid configuration, the running configuration is kept')
      return
    }
    for (const warning of loaded.warnings) log.warn(warning)
    server.reload(loaded.config)
  })
  return reloading
}
