import '../src/core/heap-policy'
import { execFileSync } from 'node:child_process'
import fs from 'node:fs'
import { Worker } from 'node:worker_threads'
import type { AggregatorConfig } from '../src/aggregate/aggregator'
import { NODE_FLAGS } from '../src/core/node-flags'

/*
 * What a worker isolate costs (issue 25, ask 3): the RSS of a bare Node
 * process, of one that loads the aggregator's modules, and of one with 1
 * and 2 idle worker threads that each load them and build an Aggregator,
 * each in a fresh process started with the server's NODE_FLAGS and heap
 * policy (as src/main.ts sets it), measured after a settling pause; the
 * workers with V8's default young generation and with one capped through
 * resourceLimits. Run with `node build/bench/worker-memory.js`.
 */

const SETTLE_MS = 1000
const AGGREGATOR = require.resolve('../src/aggregate/aggregator')

/** RSS, and its anonymous part (file pages of the node binary are shared by every node process), in MB. */
function rss(): { rss: number; anon: number } {
  const status = fs.readFileSync('/proc/self/status', 'utf8')
  const kb = (field: string): number => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN)
  return { rss: kb('VmRSS') / 1024, anon: kb('RssAnon') / 1024 }
}

/** The built-in config, parsed (on the main thread, which loads the config schema anyway). */
function parsedConfig(): AggregatorConfig {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { configSchema } = require('../src/config/schema') as typeof import('../src/config/schema')
  return { ...configSchema.parse({}), dumpMessages: false }
}

/**
 * Loads the aggregator and builds one, as a shard would: with a config
 * parsed by the main thread, so that a worker loads no config schema (zod).
 */
function loadAggregator(cfg: AggregatorConfig): unknown {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { Aggregator } = require(AGGREGATOR) as typeof import('../src/aggregate/aggregator')
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { silentLogger } = require('../src/log') as typeof import('../src/log')
  return new Aggregator(cfg, silentLogger())
}

async function child(mode: string): Promise<void> {
  // workers:N or workers:N:Y (maxYoungGenerationSizeMb Y)
  const [, count, young] = mode.split(':')
  const workers = Number(count ?? 0)
  const resourceLimits = young === undefined ? undefined : { maxYoungGenerationSizeMb: Number(young) }
  const cfg = mode === 'bare' ? null : parsedConfig()
  if (cfg !== null) loadAggregator(cfg)
  const threads: Worker[] = []
  for (let i = 0; i < workers; i++) {
    const worker = new Worker(`require(${JSON.stringify(__filename)}).workerMain()`, { eval: true, resourceLimits, workerData: cfg })
    await new Promise<void>((resolve, reject) => {
      worker.once('message', () => resolve())
      worker.once('error', reject)
    })
    threads.push(worker)
  }
  await new Promise((resolve) => setTimeout(resolve, SETTLE_MS))
  process.stdout.write(JSON.stringify(rss()))
  await Promise.all(threads.map((w) => w.terminate()))
}

/** A worker thread's body: load the aggregator, say so, then stay idle. */
export function workerMain(): void {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { parentPort, workerData } = require('node:worker_threads') as typeof import('node:worker_threads')
  const kept = loadAggregator(workerData as AggregatorConfig)
  parentPort!.postMessage('ready')
  // Idle, but alive until terminated (with its aggregator).
  setInterval(() => kept, 1 << 30)
}

function main(): void {
  const modes: [string, string][] = [
    ['bare', 'bare Node'],
    ['main', 'aggregator modules loaded, no worker'],
    ['workers:1', '+ 1 idle worker thread with an Aggregator'],
    ['workers:2', '+ 2 idle worker threads with an Aggregator each'],
    ['workers:1:4', '+ 1 such worker, resourceLimits.maxYoungGenerationSizeMb 4'],
    ['workers:2:4', '+ 2 such workers, maxYoungGenerationSizeMb 4'],
  ]
  const rows = ['| process | RSS MB | anonymous RSS MB |', '|---|---|---|']
  for (const [mode, label] of modes) {
    const m = JSON.parse(execFileSync(process.execPath, [...NODE_FLAGS, __filename, mode], { encoding: 'utf8' })) as { rss: number; anon: number }
    rows.push(`| ${label} | ${m.rss.toFixed(1)} | ${m.anon.toFixed(1)} |`)
  }
  console.log(`Node ${process.version}, RSS after ${SETTLE_MS} ms idle:\n`)
  console.log(rows.join('\n'))
}

if (require.main === module) {
  const mode = process.argv[2]
  if (mode === undefined) main()
  else void child(mode)
}
