import { execFileSync } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import t from 'tap'
import { nativeReadSocket, type ReadSocket, readSocketWithFs } from '../src/listeners/stream/read-socket'

/*
 * The read a held stream client gets (src/listeners/stream/read-socket.ts),
 * with the addon and without: the same answers for the same descriptor
 * states. A FIFO stands in for the socket: read(2) on it says the same
 * things (EAGAIN when empty, 0 at EOF).
 */

const readers: [string, ReadSocket | null][] = [
  ['addon', nativeReadSocket],
  ['fs.readSync', readSocketWithFs],
]

const { EAGAIN, EBADF } = os.constants.errno

for (const [name, read] of readers) {
  t.test(`${name}: bytes, -EAGAIN when nothing is queued, 0 at EOF, -EBADF on a bad descriptor`, (t) => {
    if (read === null) {
      t.fail('the addon has no readSocket: it was not built (npm ci builds it)')
      t.end()
      return
    }
    const fifo = path.join(t.testdir(), 'fifo')
    execFileSync('mkfifo', [fifo])
    const fd = fs.openSync(fifo, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK)
    const writer = fs.openSync(fifo, 'w')
    const into = Buffer.alloc(8)
    t.equal(read(fd, into), -EAGAIN, 'nothing queued')
    fs.writeSync(writer, 'a:1|c\n')
    t.equal(read(fd, into), 6)
    t.equal(into.subarray(0, 6).toString(), 'a:1|c\n')
    fs.writeSync(writer, '0123456789')
    t.equal(read(fd, into), 8, 'no more than the buffer holds')
    t.equal(read(fd, into), 2)
    fs.closeSync(writer)
    t.equal(read(fd, into), 0, 'EOF')
    fs.closeSync(fd)
    t.equal(read(fd, into), -EBADF)
    t.end()
  })
}
