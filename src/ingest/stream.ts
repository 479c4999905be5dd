import net from 'node:net'
import { setTimeout as sleep } from 'node:timers/promises'
import type { TcpListenerConfig, UnixListenerConfig } from '../config/schema'
import type { Logger } from '../log'
import type { IngestCounters } from './counters'
import { hostPort } from './host-port'
import { claimSocketFile, clearStaleSocket, type ProbeAnswer } from '../listeners/unix-socket-file'
import { ListenError } from './listen-error'
import type { Listener } from './listener'
import type { Pausable, PacketQueue } from './queue'
import { RateLimitedLog } from './rate-limited-log'
import { afterPoll, DEFAULT_SHUTDOWN_TIMEOUT_MS } from './shutdown'

const NEWLINE = 0x0a
const TRAILING_NEWLINE = Buffer.from('\n')
/** How much of a dropped line a log message may show. */
const PREVIEW_BYTES = 100
/** Smallest buffer allocated for a carried partial line. */
const MIN_CARRY_CAPACITY = 256
/** How long probing an existing unix socket may take before it counts as in use. */
const PROBE_TIMEOUT_MS = 1_000

/**
 * Turns a byte stream into packets of complete lines. Each chunk that
 * completes at least one line becomes ONE packet (the aggregator counts a
 * packet per queue entry, as Etsy does for TCP); the unfinished tail is kept
 * for the next chunk. Lines longer than `maxLineBytes` are dropped whole and
 * reported, which also bounds the memory a client can hold here.
 *
 * The common case (no carried tail, no long line) emits a view of the chunk
 * itself: no copy. A carried tail is copied into a buffer of our own: a
 * client trickling a line byte by byte would otherwise make us hold one
 * Buffer object per byte.
 */
export class LineAssembler {
  /** The unfinished last line: carry[0, carryBytes); grows by doubling up to maxLineBytes. */
  private carry: Buffer | null = null
  private carryBytes = 0
  /** Inside an over-long line that has been reported: skip up to its newline. */
  private skipping = false
  private finished = false

  constructor(
    private readonly maxLineBytes: number,
    private readonly emit: (packet: Buffer) => void,
    /** Called once per dropped line with its first bytes (valid during the call only). */
    private readonly onOversized: (preview: Buffer) => void,
  ) {}

  write(chunk: Buffer): void {
    if (this.finished) return
    let start = 0
    if (this.skipping) {
      const nl = chunk.indexOf(NEWLINE)
      if (nl === -1) return
      this.skipping = false
      start = nl + 1
    }
    const lastNl = chunk.lastIndexOf(NEWLINE)
    if (lastNl < start) {
      this.appendCarry(chunk.subarray(start))
      return
    }

    const parts: Buffer[] = []
    if (this.carry !== null) {
      // The carry is the start of the first line: measure that line whole.
      const firstNl = chunk.indexOf(NEWLINE, start)
      if (this.carryBytes + (firstNl - start) > this.maxLineBytes) {
        this.onOversized(this.carry.subarray(0, Math.min(this.carryBytes, PREVIEW_BYTES)))
        start = firstNl + 1
      } else {
        parts.push(this.carry.subarray(0, this.carryBytes))
      }
      this.dropCarry()
    }
    if (start <= lastNl) {
      const lines = this.withoutLongLines(chunk, start, lastNl)
      if (lines === null) parts.push(chunk.subarray(start, lastNl + 1))
      else parts.push(...lines)
    }
    if (parts.length === 1) this.emit(parts[0]!)
    else if (parts.length > 1) this.emit(Buffer.concat(parts))

    if (lastNl + 1 < chunk.length) this.appendCarry(chunk.subarray(lastNl + 1))
  }

  /**
   * The stream has ended: a last line without its newline is still a line
   * (Etsy loses it; we keep it). Later writes are ignored.
   */
  finish(): void {
    if (this.finished) return
    this.finished = true
    const carry = this.carry
    if (carry !== null) {
      if (carry.length > this.carryBytes) {
        carry[this.carryBytes] = NEWLINE
        this.emit(carry.subarray(0, this.carryBytes + 1))
      } else {
        this.emit(Buffer.concat([carry, TRAILING_NEWLINE]))
      }
    }
    this.dropCarry()
  }

  private appendCarry(tail: Buffer): void {
    if (tail.length === 0) return
    const needed = this.carryBytes + tail.length
    if (needed > this.maxLineBytes) {
      const head = this.carry ?? tail
      this.onOversized(head.subarray(0, Math.min(this.carry !== null ? this.carryBytes : tail.length, PREVIEW_BYTES)))
      this.dropCarry()
      this.skipping = true
      return
    }
    if (this.carry === null || needed > this.carry.length) {
      const capacity = Math.min(this.maxLineBytes, Math.max(needed, 2 * (this.carry?.length ?? 0), MIN_CARRY_CAPACITY))
      const grown = Buffer.allocUnsafe(capacity)
      if (this.carry !== null) this.carry.copy(grown, 0, 0, this.carryBytes)
      this.carry = grown
    }
    tail.copy(this.carry, this.carryBytes)
    this.carryBytes = needed
  }

  /** Released, not kept for reuse: an idle connection should not pin up to maxLineBytes. */
  private dropCarry(): void {
    this.carry = null
    this.carryBytes = 0
  }

  /**
   * The complete lines of chunk[start..lastNl] (lastNl being a newline) with
   * any over-long ones cut out, or null when none is too long (the usual
   * case). It hops from newline to newline at most maxLineBytes apart, so it
   * costs a native search per maxLineBytes, not per line.
   */
  private withoutLongLines(chunk: Buffer, start: number, lastNl: number): Buffer[] | null {
    const max = this.maxLineBytes
    let kept: Buffer[] | null = null
    let keptFrom = start
    let lineStart = start
    // A line starting at lineStart ends at a newline <= lastNl, so once the
    // remaining span is short enough every line in it is too.
    while (lastNl - lineStart > max) {
      const nl = chunk.lastIndexOf(NEWLINE, lineStart + max)
      if (nl >= lineStart) {
        lineStart = nl + 1
        continue
      }
      // No newline within max bytes: the line starting here is too long.
      const end = chunk.indexOf(NEWLINE, lineStart + max + 1)
      this.onOversized(chunk.subarray(lineStart, Math.min(end, lineStart + PREVIEW_BYTES)))
      kept ??= []
      if (lineStart > keptFrom) kept.push(chunk.subarray(keptFrom, lineStart))
      lineStart = keptFrom = end + 1
    }
    if (kept !== null && keptFrom <= lastNl) kept.push(chunk.subarray(keptFrom, lastNl + 1))
    return kept
  }
}

type StreamLimits = Pick<TcpListenerConfig, 'maxLineBytes' | 'idleTimeoutMs' | 'maxConnections'>

/** What the server needs to end a connection it is shutting down. */
interface Connection {
  readonly socket: net.Socket
  /** Whether the client has sent nothing for `ms` while we were reading it. */
  quietFor(ms: number, now: number): boolean
  /** Queues the pending partial line and closes the socket. */
  close(): void
}

/**
 * Wires one client connection: lines to the queue, idle and error handling,
 * pausing while the queue is above its high-water mark. Whatever way the
 * connection ends, the pending partial line is queued.
 */
function handleConnection(
  socket: net.Socket,
  limits: StreamLimits,
  queue: PacketQueue,
  counters: IngestCounters,
  log: Logger,
  source: number,
): Connection {
  const peer = socket.remoteAddress !== undefined ? `${socket.remoteAddress}:${socket.remotePort}` : 'local'
  let warned = false
  const lines = new LineAssembler(
    limits.maxLineBytes,
    (packet) => queue.pushStream(packet, source),
    (preview) => {
      counters.oversizedLines++
      // A misbehaving client can send many long lines: warn once per
      // connection, the counter tells how many.
      const level = warned ? 'debug' : 'warn'
      warned = true
      log[level](
        { peer, maxLineBytes: limits.maxLineBytes, start: preview.toString('utf8') },
        'line longer than maxLineBytes dropped',
      )
    },
  )
  const finish = (): void => lines.finish()

  let lastDataAt = Date.now()
  let paused = false
  // While paused the client is not idle, we are: no idle timeout then.
  const flow: Pausable = {
    pause: () => {
      paused = true
      socket.setTimeout(0)
      socket.pause()
    },
    resume: () => {
      paused = false
      lastDataAt = Date.now()
      socket.setTimeout(limits.idleTimeoutMs)
      socket.resume()
    },
  }

  socket.setTimeout(limits.idleTimeoutMs)
  socket.on('data', (chunk: Buffer) => {
    lastDataAt = Date.now()
    lines.write(chunk)
  })
  socket.on('end', finish)
  socket.on('timeout', () => {
    counters.idleTimeouts++
    log.debug({ peer, idleTimeoutMs: limits.idleTimeoutMs }, 'idle client disconnected')
    finish()
    socket.destroy()
  })
  socket.on('error', (err) => {
    counters.connectionErrors++
    log.debug({ peer, err }, 'client connection error')
    finish()
  })
  socket.on('close', () => {
    queue.removePausable(flow)
    finish()
  })
  queue.addPausable(flow)
  return {
    socket,
    quietFor: (ms, now) => !paused && now - lastDataAt >= ms,
    close: () => {
      finish()
      socket.destroy()
    },
  }
}

/**
 * Serves clients on an already-listening `server` and returns how to stop
 * it and how many clients it has. Shared by TCP and unix sockets: only the
 * address differs.
 */
function serveStream(
  server: net.Server,
  limits: StreamLimits,
  queue: PacketQueue,
  counters: IngestCounters,
  log: Logger,
  source: number,
): { stop: (timeoutMs: number) => Promise<void>; open: () => number } {
  const connections = new Set<Connection>()
  if (limits.maxConnections !== undefined) server.maxConnections = limits.maxConnections
  server.on('connection', (socket) => {
    const conn = handleConnection(socket, limits, queue, counters, log, source)
    connections.add(conn)
    socket.on('close', () => connections.delete(conn))
  })
  // Node closes a connection past maxConnections at once; it must not go unnoticed.
  const refusals = new RateLimitedLog(log, 'warn', 'client refused: maxConnections reached (see README, "maxConnections")')
  server.on('drop', (client?: { remoteAddress?: string; remotePort?: number }) => {
    counters.refusedConnections++
    const peer = client?.remoteAddress !== undefined ? hostPort(client.remoteAddress, client.remotePort ?? 0) : 'local'
    refusals.event({ maxConnections: server.maxConnections, peer })
  })
  // After listen, server errors are about accepting one client (EMFILE...); keep serving.
  const acceptErrors = new RateLimitedLog(log, 'error', 'cannot accept a client')
  server.on('error', (err) => {
    counters.acceptErrors++
    acceptErrors.event({ err })
  })

  const stop = async (timeoutMs: number): Promise<void> => {
    // Clients the kernel has already connected wait in the backlog: take them too.
    await afterPoll()
    const closed = new Promise<void>((resolve) => server.close(() => resolve()))
    // FIN: a client that reads learns we are going and closes; we keep reading until it does.
    for (const conn of connections) conn.socket.end()
    await closeWhenQuiet(connections, timeoutMs, counters, log)
    await closed
  }
  return { stop, open: () => connections.size }
}

/** A client that has sent nothing for this long after shutdown began has nothing more in flight. */
const SHUTDOWN_QUIET_MS = 250

/**
 * Closes each connection once its client has closed or gone quiet; any still
 * sending when `timeoutMs` runs out are cut off, counted and logged. Their
 * receive buffers are empty when closed, so the close is a FIN, not a reset.
 */
async function closeWhenQuiet(
  connections: Set<Connection>,
  timeoutMs: number,
  counters: IngestCounters,
  log: Logger,
): Promise<void> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const now = Date.now()
    for (const conn of connections) {
      if (conn.quietFor(SHUTDOWN_QUIET_MS, now)) {
        connections.delete(conn)
        conn.close()
      }
    }
    if (connections.size === 0) return
    if (now >= deadline) {
      counters.shutdownDisconnects += connections.size
      log.warn(
        { clients: connections.size, shutdownTimeoutMs: timeoutMs },
        'shutdown time ran out: clients still sending were disconnected',
      )
      for (const conn of connections) conn.close()
      connections.clear()
      return
    }
    await sleep(Math.min(SHUTDOWN_QUIET_MS / 5, deadline - now))
  }
}

function listen(server: net.Server, options: net.ListenOptions, what: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (err: Error): void => {
      server.removeListener('listening', onListening)
      reject(new ListenError(what, err))
    }
    const onListening = (): void => {
      server.removeListener('error', onError)
      resolve()
    }
    server.once('error', onError)
    server.once('listening', onListening)
    server.listen(options)
  })
}

/** Newline-delimited metrics over TCP. */
export async function startTcpListener(
  cfg: TcpListenerConfig,
  queue: PacketQueue,
  counters: IngestCounters,
  log: Logger,
  source = 0,
): Promise<Listener> {
  const server = net.createServer({ allowHalfOpen: false })
  await listen(server, { host: cfg.address, port: cfg.port, exclusive: true }, `tcp ${hostPort(cfg.address, cfg.port)}`)
  const bound = server.address() as net.AddressInfo
  const description = `tcp ${hostPort(bound.address, bound.port)}`
  const serving = serveStream(server, cfg, queue, counters, log.child({ listener: description }), source)
  let closing: Promise<void> | null = null
  return {
    description,
    boundAddress: { address: bound.address, port: bound.port },
    close: (timeoutMs = DEFAULT_SHUTDOWN_TIMEOUT_MS) => (closing ??= serving.stop(timeoutMs)),
    status: () => ({ connectionsOpen: serving.open() }),
  }
}

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

  const serving = serveStream(server, cfg, queue, counters, log.child({ listener: description }), source)
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
