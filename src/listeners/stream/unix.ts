import net from 'node:net'
import type { UnixListenerConfig } from '../../config/schema'
import type { IngestCounters } from '../../core/ingest-counters'
import { ListenError } from '../listen-error'
import type { Listener } from '../listener'
import type { PacketQueue } from '../../queue/queue'
import { DEFAULT_SHUTDOWN_TIMEOUT_MS } from '../shutdown'
import type { Logger } from '../../log'
import { claimSocketFile, clearStaleSocket, type ProbeAnswer } from '../unix-socket-file'
import { listen, serveStream } from './stream-server'

/** How long probing an existing unix socket may take before it counts as in use. */
const PROBE_TIMEOUT_MS = 1_000

/** Newline-delimited metrics over a unix stream socket. */
export async function startUnixListener(
  cfg: UnixListenerConfig,
  queue: PacketQueue,
  counters: IngestCounters,
  log: Logger,
  source = 0,
): Promise<Listener> {
  const description = `unix ${cfg.path}`
  await clearStaleSocket(cfg.path, description, probe)
  const server = net.createServer({ allowHalfOpen: false })
  await listen(server, { path: cfg.path, exclusive: true }, description)

  let file: { remove(): void }
  try {
    file = claimSocketFile(cfg.path, cfg.mode)
  } catch (err) {
    await new Promise<void>((resolve) => server.close(() => resolve()))
    throw new ListenError(description, err)
  }

  const serving = serveStream(server, cfg, queue, counters, log.child({ listener: description }), source, true)
  let closing: Promise<void> | null = null
  const close = async (timeoutMs: number): Promise<void> => {
    await serving.stop(timeoutMs)
    file.remove()
  }
  return {
    description,
    boundAddress: { path: cfg.path },
    close: (timeoutMs = DEFAULT_SHUTDOWN_TIMEOUT_MS) => (closing ??= close(timeoutMs)),
    status: () => ({ connectionsOpen: serving.open() }),
  }
}

/**
 * Whether something serves the socket at `path`. Only a refused connection
 * (or the file vanishing) proves nobody does.
 */
function probe(path: string): Promise<ProbeAnswer> {
  return new Promise((resolve) => {
    const client = net.connect({ path })
    const done = (answer: ProbeAnswer): void => {
      client.destroy()
      resolve(answer)
    }
    // A live server with a full backlog may not answer at once.
    client.setTimeout(PROBE_TIMEOUT_MS, () => done({ state: 'in use', detail: 'connection attempt timed out' }))
    client.on('connect', () => done({ state: 'in use', detail: 'it accepted a connection' }))
    client.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'ECONNREFUSED' || err.code === 'ENOENT') done({ state: 'free' })
      else if (err.code === 'EAGAIN') done({ state: 'in use', detail: 'its connection backlog is full' })
      else done({ state: 'unknown', detail: err.message })
    })
  })
}
