import fs from 'node:fs'
import net from 'node:net'
import os from 'node:os'

/*
 * What Linux says about our own sockets and limits, read from /proc without
 * any native code. Everything here returns undefined where /proc is missing
 * (another OS, a locked-down sandbox): callers then fall back or go without.
 */

export interface UdpSocketStats {
  /** Bytes waiting in the socket's receive queue (kernel accounting, not payload). */
  rxQueue: number
  /** Datagrams the kernel dropped on this socket since it was created. */
  drops: number
}

/**
 * Finds the kernel's inode for the UDP socket this process has bound to
 * `address`:`port`, so that its row can be found again cheaply and without
 * mistaking another process's socket for ours.
 */
export function findUdpSocketInode(address: string, port: number): number | undefined {
  const ours = ownSocketInodes()
  if (ours === undefined) return undefined
  const wanted = new net.SocketAddress({ address, family: net.isIPv6(address) ? 'ipv6' : 'ipv4' }).address
  for (const row of udpRows(udpTable(address))) {
    if (row.port === port && ours.has(row.inode) && row.address === wanted) return row.inode
  }
  return undefined
}

/** The receive queue and drop count of the UDP socket with this inode. */
export function udpSocketStats(address: string, inode: number): UdpSocketStats | undefined {
  for (const row of udpRows(udpTable(address))) {
    if (row.inode === inode) return { rxQueue: row.rxQueue, drops: row.drops }
  }
  return undefined
}

/** The soft RLIMIT_NOFILE of this process (after Node raised it), or undefined if unknown or unlimited. */
export function openFileLimit(): number | undefined {
  const limits = readProc('/proc/self/limits')
  const match = limits && /^Max open files\s+(\d+|unlimited)\s/m.exec(limits)
  return match && match[1] !== 'unlimited' ? Number(match[1]) : undefined
}

function udpTable(address: string): string {
  return net.isIPv6(address) ? '/proc/net/udp6' : '/proc/net/udp'
}

/** Every UDP socket of `address`'s family on this host (tests look at the server's from outside). */
export function udpSockets(address: string): UdpRow[] {
  return [...udpRows(udpTable(address))]
}

export interface UdpRow extends UdpSocketStats {
  address: string
  port: number
  inode: number
}

/*
 * A row: "sl local_address rem_address st tx_queue:rx_queue tr:tm retrnsmt uid timeout inode ref pointer drops",
 * local_address being hex words in host byte order, then ":" and the port in hex.
 */
function* udpRows(table: string): Generator<UdpRow> {
  const text = readProc(table)
  if (text === undefined) return
  for (const line of text.split('\n').slice(1)) {
    const f = line.trim().split(/\s+/)
    if (f.length < 13) continue
    const [addressHex, portHex] = f[1]!.split(':') as [string, string]
    yield {
      address: decodeAddress(addressHex),
      port: parseInt(portHex, 16),
      rxQueue: parseInt(f[4]!.split(':')[1]!, 16),
      inode: Number(f[9]),
      drops: Number(f[12]),
    }
  }
}

function decodeAddress(hex: string): string {
  const bytes = Buffer.alloc(hex.length / 2)
  const littleEndian = os.endianness() === 'LE'
  for (let i = 0; i < bytes.length; i += 4) {
    const word = parseInt(hex.slice(i * 2, i * 2 + 8), 16)
    if (littleEndian) bytes.writeUInt32LE(word, i)
    else bytes.writeUInt32BE(word, i)
  }
  if (bytes.length === 4) return bytes.join('.')
  const groups: string[] = []
  for (let i = 0; i < 16; i += 2) groups.push(bytes.readUInt16BE(i).toString(16))
  return new net.SocketAddress({ address: groups.join(':'), family: 'ipv6' }).address
}

/** Inodes of every socket this process has open ("socket:[123]" links in /proc/self/fd). */
function ownSocketInodes(): Set<number> | undefined {
  let fds: string[]
  try {
    fds = fs.readdirSync('/proc/self/fd')
  } catch {
    return undefined
  }
  const inodes = new Set<number>()
  for (const fd of fds) {
    try {
      const match = /^socket:\[(\d+)\]$/.exec(fs.readlinkSync(`/proc/self/fd/${fd}`))
      if (match) inodes.add(Number(match[1]))
    } catch {
      // Closed since the directory was listed.
    }
  }
  return inodes
}

function readProc(file: string): string | undefined {
  try {
    return fs.readFileSync(file, 'latin1')
  } catch {
    return undefined
  }
}
