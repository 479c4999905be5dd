import { execFileSync } from 'node:child_process'
import { existsSync, readFileSync } from 'node:fs'
import path from 'node:path'

/*
 * Name, version and commit of the running build, read once at start-up. The
 * commit comes from a COMMIT file beside package.json (packaging writes one)
 * or, in a git checkout, from git itself; null when neither is there.
 */

export interface BuildInfo {
  name: string
  version: string
  commit: string | null
}

export function readBuildInfo(packageRoot: string): BuildInfo {
  let name = 'statsd-ts'
  let version = 'unknown'
  try {
    const pkg = JSON.parse(readFileSync(path.join(packageRoot, 'package.json'), 'utf8')) as { name?: string; version?: string }
    name = pkg.name ?? name
    version = pkg.version ?? version
  } catch {
    // A stripped install without package.json still runs.
  }
  return { name, version, commit: readCommit(packageRoot) }
}

function readCommit(root: string): string | null {
  try {
    const file = path.join(root, 'COMMIT')
    if (existsSync(file)) return readFileSync(file, 'utf8').trim() || null
    if (!existsSync(path.join(root, '.git'))) return null
    const out = execFileSync('git', ['-C', root, 'rev-parse', 'HEAD'], { timeout: 2000, stdio: ['ignore', 'pipe', 'ignore'] })
    return out.toString().trim() || null
  } catch {
    return null
  }
}
