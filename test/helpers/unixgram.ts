import { execFile } from 'node:child_process'

/*
 * Node cannot send on a unix datagram socket; python3 (on every machine
 * here, carbon needs it) can. Each payload is one datagram; resolves once
 * all were sent (a full receive queue blocks the sender, so none is lost).
 */
const SENDER = `
import socket, sys, json
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
for p in json.load(sys.stdin):
    s.sendto(bytes.fromhex(p), sys.argv[1])
`

/** Resolves with the sending process's PID (what SO_PASSCRED reports for its datagrams). */
export function sendUnixgram(path: string, payloads: (string | Buffer)[]): Promise<number> {
  const hex = payloads.map((p) => Buffer.from(p).toString('hex'))
  return new Promise((resolve, reject) => {
    const child = execFile('python3', ['-c', SENDER, path], (err, _out, stderr) =>
      err ? reject(new Error(`unixgram send failed: ${stderr || err.message}`)) : resolve(child.pid!),
    )
    child.stdin!.end(JSON.stringify(hex))
  })
}
