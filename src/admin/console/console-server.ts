import net from 'node:net'
import type { RefusalReason, WriteGate } from '../auth/write-gate'
import { type ConsoleAnswer, commandAccess } from './commands'

/*
 * The Etsy management console over TCP. One command per line; unlike Etsy
 * (which reads one command per read and answers ERROR to two in one
 * segment), every line gets its answer. A command sent without a newline is
 * still answered once the client pauses or half-closes, as Etsy answers it.
 * Writes pass the WriteGate: off loopback, `auth TOKEN` opens them for the
 * rest of the connection (until the token is changed by a reload).
 */

const MAX_LINE_BYTES = 4096
const MAX_CONNECTIONS = 32
/** An unterminated command is run after this pause (`printf stats | nc` sends no newline). */
const UNTERMINATED_AFTER_MS = 200
const IDLE_TIMEOUT_MS = 5 * 60_000

const REFUSALS: Record<RefusalReason, string> = {
  missing: 'ERROR: this command needs the admin token: send "auth TOKEN" first\n',
  wrong: 'ERROR: wrong admin token\n',
  'rate-limited': 'ERROR: too many failed attempts from this address; try again later\n',
  closed: 'ERROR: writes are disabled on this address: no adminAuth token is configured\n',
}

/** The answer to one command line (the server's commands, or the relay's); `quit` closes the connection. */
export type ConsoleCommands = (line: string) => ConsoleAnswer

/** Who may write (see WriteGate), and the address the console is bound to. */
export interface ConsoleWrites {
  gate: WriteGate
  boundAddress: string
}

export interface ConsoleLog {
  warn(obj: object, msg: string): void
}

export class ConsoleServer {
  private readonly clients = new Set<net.Socket>()
  // Half-open: a client that sends a command and its FIN at once still gets the answer.
  private readonly server = net.createServer({ allowHalfOpen: true }, (socket) => {
    this.clients.add(socket)
    socket.on('close', () => this.clients.delete(socket))
    serve(socket, this.commands, this.log, this.writes)
  })

  constructor(
    private readonly commands: ConsoleCommands,
    private readonly log: ConsoleLog,
    /** Without it, writes are open, as on loopback. */
    private readonly writes?: ConsoleWrites,
  ) {
    this.server.maxConnections = MAX_CONNECTIONS
  }

  /** Resolves with the bound address, rejects if it cannot bind. */
  listen(port: number, address: string): Promise<net.AddressInfo> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject)
      this.server.listen(port, address, () => {
        this.server.off('error', reject)
        resolve(this.server.address() as net.AddressInfo)
      })
    })
  }

  /** Stops accepting and cuts the clients off: they hold no work worth waiting for. */
  close(): Promise<void> {
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()))
    for (const socket of this.clients) socket.destroy()
    return closed
  }
}

function serve(socket: net.Socket, commands: ConsoleCommands, log: ConsoleLog, writes: ConsoleWrites | undefined): void {
  let pending = ''
  /** The gate's generation the client authenticated against (-1: not yet). */
  let authedFor = -1
  const source = socket.remoteAddress ?? 'unknown'
  let pause: NodeJS.Timeout | undefined
  let closed = false
  socket.setEncoding('latin1')
  socket.setTimeout(IDLE_TIMEOUT_MS, () => socket.destroy())
  socket.on('error', (err) => log.warn({ err: err.message }, 'management console client error'))
  socket.on('close', () => {
    closed = true
    clearTimeout(pause)
  })

  const run = (line: string): void => {
    if (closed) return
    const access = writes === undefined ? 'read' : commandAccess(line)
    if (access === 'auth') {
      const verdict = writes!.gate.check(writes!.boundAddress, source, line.trim().split(' ')[1] || undefined, 'mgmt')
      if (verdict === 'allowed') authedFor = writes!.gate.generation
      socket.write(verdict === 'allowed' ? 'auth: ok\n' : REFUSALS[verdict])
      return
    }
    if (access === 'write' && authedFor !== writes!.gate.generation) {
      const verdict = writes!.gate.check(writes!.boundAddress, source, undefined, 'mgmt')
      if (verdict !== 'allowed') {
        socket.write(REFUSALS[verdict])
        return
      }
    }
    const { output, quit } = commands(line)
    if (quit) {
      closed = true
      socket.end()
    } else {
      socket.write(output)
    }
  }

  socket.on('data', (chunk: string) => {
    clearTimeout(pause)
    pending += chunk
    let nl: number
    while (!closed && (nl = pending.indexOf('\n')) >= 0) {
      run(pending.slice(0, nl))
      pending = pending.slice(nl + 1)
    }
    if (pending.length > MAX_LINE_BYTES) {
      pending = ''
      run('') // answered ERROR, as any unknown command
    }
    if (pending !== '') {
      pause = setTimeout(() => {
        run(pending)
        pending = ''
      }, UNTERMINATED_AFTER_MS)
    }
  })
  socket.on('end', () => {
    clearTimeout(pause)
    if (pending.trim() !== '') run(pending)
    pending = ''
    if (!closed) socket.end()
  })
}
