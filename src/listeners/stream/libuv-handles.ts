import type net from 'node:net'
import os from 'node:os'
import util from 'node:util'
import { hostPort } from '../../core/host-port'
import { type StreamClients, StreamClient } from './clients'
import { readSocket } from './read-socket'

/*
 * Reads stream clients straight from the libuv handles Node accepts them on,
 * without wrapping each in a net.Socket. A net.Socket (a Duplex stream with
 * its state objects, listeners and nextTick-driven end and close) costs more
 * CPU than everything else a one-line connection needs: with it, this server
 * spent about what Etsy statsd does per connection; without it, about a third.
 *
 * This uses Node internals that net.js itself uses and that have been stable
 * since Node 12: the listening handle's `onconnection`, a client handle's
 * readStart/readStop/onread/shutdown/close, and `stream_wrap`'s shared read
 * state. They are checked before use; when any is missing (a future Node) or
 * STATSD_TS_FAST_STREAMS=off is set, the listener falls back to net.Socket
 * (net-sockets.ts) and says so at start-up.
 */

/** A libuv stream handle (TCPWrap or PipeWrap) as net.js drives it. */
interface StreamHandle {
  onread: ((this: StreamHandle, buffer: ArrayBuffer | undefined) => void) | null
  readStart(): number
  readStop(): number
  shutdown(req: ShutdownRequest): number
  close(): void
  getpeername?(out: { address?: string; port?: number }): number
  /** The socket's descriptor (-1 once closed; absent off Unix). */
  readonly fd?: number
  [CLIENT]?: HandleClient
}

interface ShutdownRequest {
  oncomplete: (status: number) => void
  handle: StreamHandle
}

interface StreamWrap {
  /** Written by libuv before each onread call: bytes read or a negative errno, and the data's offset. */
  streamBaseState: Int32Array
  kReadBytesOrError: number
  kArrayBufferOffset: number
  ShutdownWrap: new () => ShutdownRequest
}

const CLIENT = Symbol('statsd-ts client')
const NOTHING_QUEUED = -os.constants.errno.EAGAIN
const UV_EOF = [...util.getSystemErrorMap()].find(([, [name]]) => name === 'EOF')?.[0]

let internals: StreamWrap | string | null = null

/** Node's stream internals, or why they cannot be used. */
function streamWrap(): StreamWrap | string {
  if (process.env.STATSD_TS_FAST_STREAMS === 'off') return 'turned off by STATSD_TS_FAST_STREAMS=off'
  if (internals !== null) return internals
  try {
    const binding = (process as unknown as { binding(name: string): Record<string, unknown> }).binding
    const wrap = binding('stream_wrap') as unknown as StreamWrap
    const handleClasses = [binding('tcp_wrap').TCP, binding('pipe_wrap').Pipe] as { prototype: Record<string, unknown> }[]
    const ok =
      UV_EOF !== undefined &&
      wrap.streamBaseState instanceof Int32Array &&
      typeof wrap.kReadBytesOrError === 'number' &&
      typeof wrap.kArrayBufferOffset === 'number' &&
      typeof wrap.ShutdownWrap === 'function' &&
      handleClasses.every((c) => ['readStart', 'readStop', 'shutdown', 'close'].every((m) => typeof c.prototype[m] === 'function'))
    internals = ok ? wrap : `Node ${process.version} does not have the stream internals expected`
  } catch (err) {
    internals = `Node's stream internals are not available: ${(err as Error).message}`
  }
  return internals
}

class HandleClient extends StreamClient {
  constructor(
    private readonly handle: StreamHandle,
    private readonly wrap: StreamWrap,
  ) {
    super()
  }

  peer(): string {
    const out: { address?: string; port?: number } = {}
    if (this.handle.getpeername === undefined) return 'local'
    return this.handle.getpeername(out) === 0 && out.address !== undefined ? hostPort(out.address, out.port ?? 0) : 'unknown'
  }

  stopReading(): void {
    this.handle.readStop()
  }

  startReading(): void {
    this.handle.readStart()
  }

  sendFin(): void {
    const req = new this.wrap.ShutdownWrap()
    req.oncomplete = ignore
    req.handle = this.handle
    this.handle.shutdown(req)
  }

  close(): void {
    this.handle.close()
  }

  override get readsDirectly(): boolean {
    const fd = this.handle.fd
    return typeof fd === 'number' && fd >= 0
  }

  /** A plain read(2) of the non-blocking socket, which libuv does not watch while reading is stopped. */
  override readNow(into: Buffer): number {
    const fd = this.handle.fd!
    // Closed under us (never seen: held clients are ended through StreamClients): as good as EOF.
    if (fd < 0) return 0
    const n = readSocket(fd, into)
    if (n >= 0) return n
    if (n === NOTHING_QUEUED) return -1
    // As a failed read on readiness does.
    throw errnoError(n, 'read')
  }
}

function ignore(): void {}

/**
 * Takes over accepting on `server` (already listening) and feeds `clients`.
 * Returns null, or why it cannot (the caller then uses net.Socket).
 */
export function serveWithHandles(server: net.Server, clients: StreamClients): string | null {
  const wrap = streamWrap()
  if (typeof wrap === 'string') return wrap
  const listening = (server as unknown as { _handle?: { onconnection?: unknown } | null })._handle
  if (typeof listening?.onconnection !== 'function') return `Node ${process.version} has no onconnection on the listening handle`
  const { streamBaseState: state, kReadBytesOrError, kArrayBufferOffset } = wrap

  // One function for every client: `this` is the handle.
  function onRead(this: StreamHandle, buffer: ArrayBuffer | undefined): void {
    const client = this[CLIENT]!
    const n = state[kReadBytesOrError]!
    if (n > 0) clients.data(client, Buffer.from(buffer!, state[kArrayBufferOffset], n))
    else if (n === UV_EOF) clients.end(client)
    else if (n < 0) clients.failed(client, errnoError(n, 'read'))
  }

  listening.onconnection = (err: number, handle: StreamHandle | undefined): void => {
    if (err !== 0 || handle === undefined) {
      clients.acceptFailed(errnoError(err, 'accept'))
      return
    }
    const client = new HandleClient(handle, wrap)
    if (!clients.admit(() => client.peer())) {
      handle.close()
      return
    }
    handle[CLIENT] = client
    handle.onread = onRead
    clients.add(client)
  }
  return null
}

function errnoError(errno: number, syscall: string): NodeJS.ErrnoException {
  const code = errno < 0 ? util.getSystemErrorName(errno) : 'UNKNOWN'
  return Object.assign(new Error(`${syscall} ${code}`), { errno, code, syscall })
}
