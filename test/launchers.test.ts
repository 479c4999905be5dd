import { execFileSync } from 'node:child_process'
import fs from 'node:fs'
import path from 'node:path'
import t from 'tap'
import { NODE_FLAGS } from '../src/core/node-flags'

/*
 * Every way the server is launched passes NODE_FLAGS to node (V8 reads them
 * only at start-up, so the server cannot set them itself), and node
 * accepts them: a misspelt V8 flag stops node from starting at all.
 */

const ROOT = path.resolve(__dirname, '../..')
const read = (file: string): string => fs.readFileSync(path.join(ROOT, file), 'utf8')
const flags = NODE_FLAGS.join(' ')

t.test('each launcher passes the flags', async (t) => {
  const pkg = JSON.parse(read('package.json')) as { scripts: Record<string, string> }
  t.equal(pkg.scripts.start, `node ${flags} build/src/main.js`, 'npm start')
  t.equal(read('src/main.ts').split('\n')[0], `#!/usr/bin/env -S node ${flags}`, 'the statsd-ts command npm links')
  t.match(read('debian/bin/statsd-ts'), `exec /usr/bin/node ${flags} /usr/lib/statsd-ts/build/src/main.js "$@"`, 'the Debian package')
  const entrypoint = /^ENTRYPOINT (.*)$/m.exec(read('Dockerfile'))?.[1]
  t.strictSame(JSON.parse(entrypoint ?? 'null'), ['node', ...NODE_FLAGS, '/usr/lib/statsd-ts/build/src/main.js'], 'the container')
})

t.test('node accepts them', async (t) => {
  t.equal(execFileSync(process.execPath, [...NODE_FLAGS, '-e', 'process.stdout.write("started")'], { encoding: 'utf8' }), 'started')
})
