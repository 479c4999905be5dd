#!/usr/bin/env node
'use strict'
/*
 * Replays the Dockerfile without Docker: the same instructions, in the same
 * order, each stage's filesystem being a directory under WORK. No Docker
 * engine runs on the dev and CI machines, so this is how a broken build step
 * is caught here (scripts/test-container.sh). Usage:
 *
 *   node scripts/container/replay.js REPO WORK
 *
 * It builds the context from REPO's files that .dockerignore lets through,
 * runs every instruction, and prints what the image would be as JSON:
 * { root, images, user, expose, healthcheck, stopsignal, entrypoint, cmd }.
 * Instructions it does not know fail the replay rather than being skipped.
 * The host's node stands in for the image's (both Node 20).
 */
const { execFileSync } = require('node:child_process')
const fs = require('node:fs')
const path = require('node:path')

const [repo, work] = process.argv.slice(2).map((p) => path.resolve(p))
if (!repo || !work) throw new Error('usage: replay.js REPO WORK')

const context = path.join(work, 'context')
copyContext(repo, context)

const image = { root: '', images: [], user: 'root', expose: [], healthcheck: null, stopsignal: null, entrypoint: null, cmd: null }
const stages = new Map()
let root = ''
let cwd = '/'
const env = { ...process.env }

for (const { instruction, args } of parseDockerfile(fs.readFileSync(path.join(repo, 'Dockerfile'), 'utf8'))) {
  process.stderr.write(`replay: ${instruction} ${args}\n`)
  switch (instruction) {
    case 'FROM': {
      const [from, as, name] = args.split(/\s+/)
      root = path.join(work, `stage${stages.size}`)
      fs.mkdirSync(root, { recursive: true })
      if (as !== undefined && as.toUpperCase() === 'AS') stages.set(name, root)
      else stages.set(String(stages.size), root)
      image.images.push(from)
      image.user = 'root'
      cwd = '/'
      break
    }
    case 'WORKDIR':
      cwd = path.posix.resolve(cwd, args)
      fs.mkdirSync(inRoot(cwd), { recursive: true })
      break
    case 'ENV': {
      const [, key, value] = /^(\S+?)[= ](.*)$/.exec(args)
      env[key] = value
      break
    }
    case 'COPY':
      copy(args)
      break
    case 'RUN':
      run(args)
      break
    case 'USER':
      image.user = args
      break
    case 'EXPOSE':
      image.expose.push(...args.split(/\s+/))
      break
    case 'HEALTHCHECK':
      image.healthcheck = args
      break
    case 'STOPSIGNAL':
      image.stopsignal = args
      break
    case 'ENTRYPOINT':
      image.entrypoint = JSON.parse(args)
      break
    case 'CMD':
      image.cmd = JSON.parse(args)
      break
    default:
      throw new Error(`replay: unsupported Dockerfile instruction ${instruction}`)
  }
}
image.root = root
process.stdout.write(`${JSON.stringify(image, null, 2)}\n`)

/** Instructions with continuation lines joined and comments dropped. */
function parseDockerfile(text) {
  const out = []
  let pending = ''
  for (const raw of text.split('\n')) {
    const line = raw.trim()
    if (pending === '' && (line === '' || line.startsWith('#'))) continue
    if (line.endsWith('\\')) {
      pending += `${line.slice(0, -1)} `
      continue
    }
    const full = pending + line
    pending = ''
    const space = full.search(/\s/)
    out.push({ instruction: full.slice(0, space).toUpperCase(), args: full.slice(space + 1).trim() })
  }
  return out
}

function inRoot(p) {
  return path.join(root, p)
}

/** COPY [--from=stage] SRC... DEST, with Docker's rule that a directory's contents are copied. */
function copy(args) {
  const words = args.split(/\s+/)
  let from = context
  if (words[0].startsWith('--from=')) {
    from = stages.get(words.shift().slice('--from='.length))
    if (from === undefined) throw new Error(`replay: unknown stage in COPY ${args}`)
  }
  const dest = words.pop()
  const target = inRoot(path.posix.resolve(cwd, dest))
  const intoDir = dest.endsWith('/') || words.length > 1
  for (const src of words) {
    const source = path.join(from, src)
    if (!fs.existsSync(source)) throw new Error(`replay: COPY ${src}: not in the ${from === context ? 'build context' : 'stage'}`)
    if (fs.statSync(source).isDirectory()) {
      fs.mkdirSync(target, { recursive: true })
      fs.cpSync(source, target, { recursive: true })
    } else {
      const file = intoDir ? path.join(target, path.basename(src)) : target
      fs.mkdirSync(path.dirname(file), { recursive: true })
      fs.cpSync(source, file)
    }
  }
}

/** RUN in shell form (sh -c) or exec form; absolute paths in exec form point into the stage. */
function run(args) {
  const options = { cwd: inRoot(cwd), env, stdio: ['ignore', 2, 2] }
  if (args.startsWith('[')) {
    const [file, ...rest] = JSON.parse(args).map(mapPath)
    execFileSync(file, rest, options)
  } else {
    execFileSync('sh', ['-c', args], options)
  }
}

function mapPath(arg) {
  return arg.startsWith('/') && fs.existsSync(inRoot(arg)) ? inRoot(arg) : arg
}

/** The build context: the repository's files that .dockerignore lets through (last matching pattern wins). */
function copyContext(from, to) {
  const patterns = fs
    .readFileSync(path.join(from, '.dockerignore'), 'utf8')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'))
  const files = execFileSync('git', ['ls-files', '-z', '--cached', '--others', '--exclude-standard'], { cwd: from })
    .toString()
    .split('\0')
    .filter((f) => f !== '' && fs.existsSync(path.join(from, f)))
  for (const file of files) {
    let included = true
    for (const pattern of patterns) {
      const negated = pattern.startsWith('!')
      const p = negated ? pattern.slice(1) : pattern
      const dir = p.endsWith('/') ? p : `${p}/`
      if (p === '*' || file === p || file.startsWith(dir)) included = negated
    }
    if (!included) continue
    fs.mkdirSync(path.dirname(path.join(to, file)), { recursive: true })
    fs.copyFileSync(path.join(from, file), path.join(to, file))
  }
}
