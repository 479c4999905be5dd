import fs from 'node:fs'
import os from 'node:os'
import type { UnixgramListenerConfig } from '../../config/schema'
import type { IngestCounters } from '../../core/ingest-counters'
import { ListenError } from '../listen-error'
import type { Listener } from '../listener'
import type { PacketQueue } from '../../queue/queue'
import type { Logger } from '../../log'
import { type ProbeAnswer, claimSocketFile, clearStaleSocket } from '../unix-socket-file'
import { nativeReader, readDatagrams } from './native-reader'
import { warnIfRecvBufferSmall } from './udp'
import { asSystemError } from './udp-native'

/**
 * Metrics over a unix datagram socket (what DogStatsD clients call
 * unix:///path): one datagram is one packet, as over UDP. Node has no such
 * socket, so this needs the native reader; without it start-up fails.
 */
export async function startUnixgramListener(
  cfg: UnixgramListenerConfig,
  queue: PacketQueue,
  counters: IngestCounters,
  log: Logger,
  source = 0,
): Promise<Listener> {
  const description = `unixgram ${cfg.path}`
  const reader = nativeReader()
  if (!('addon' in reader)) {
    throw new ListenError(description, `the native datagram reader is not available (${reader.unavailable})`)
  }
  const { addon } = reader
  await clearStaleSocket(cfg.path, description, (path) => probeAnswer(addon.probeUnixgram(path)))
  let bound
  try {
    bound = addon.bindUnixgram(cfg.path, cfg.recvBufferSize ?? 0)
  } catch (err) {
    throw new ListenError(description, asSystemError(err))
  }
  const llog = log.child({ listener: description })
  let file
  try {
    file = claimSocketFile(cfg.path, cfg.mode)
  } catch (err) {
    fs.closeSync(bound.fd)
    throw new ListenError(description, err)
  }
  warnIfRecvBufferSmall(cfg.recvBufferSize, bound.recvBufferSize, llog)

  let truncatedWarned = false
  const datagrams = readDatagrams(addon, bound.fd, queue, counters, llog, (count) => {
    counters.oversizedLines += count
    // A client that sends them usually keeps doing so: warn once, the counter tells how many.
    llog[truncatedWarned ? 'debug' : 'warn']({ count, maxBytes: 65536 }, 'datagram larger than 64 KiB dropped')
    truncatedWarned = true
  }, source, cfg.originTags === true)
  llog.info({ originTags: cfg.originTags === true, routesToShards: datagrams.routes }, 'unixgram reader: recvmmsg on a reader thread (native)')
  return {
    description,
    boundAddress: { path: cfg.path },
    close: async () => {
      datagrams.close()
      file.remove()
    },
  }
}

function probeAnswer(errno: number): ProbeAnswer {
  if (errno === 0 || errno === os.constants.errno.ENOENT) return { state: 'free' }
  if (errno === -1) return { state: 'in use', detail: 'a process reads from it' }
  // EPROTOTYPE: a live stream socket; EAGAIN: a reader whose queue is full.
  if (errno === os.constants.errno.EPROTOTYPE || errno === os.constants.errno.EAGAIN) {
    return { state: 'in use', detail: `connect: ${errnoName(errno)}` }
  }
  return { state: 'unknown', detail: `connect: ${errnoName(errno)}` }
}

function errnoName(errno: number): string {
  return Object.entries(os.constants.errno).find(([, n]) => n === errno)?.[0] ?? `errno ${errno}`
}
