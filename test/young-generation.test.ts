import { execFileSync } from 'node:child_process'
import fs from 'node:fs'
import path from 'node:path'
import { test } from 'tap'
import { SEMI_SPACE_GROWTH_FACTOR, fixYoungGeneration, workerResourceLimits } from '../src/core/young-generation'

test('the young generation is kept at its size unless the command line sized it', async (t) => {
  t.equal(fixYoungGeneration(['--inspect']), SEMI_SPACE_GROWTH_FACTOR)
  t.equal(fixYoungGeneration(['--max-semi-space-size=8']), null)
  t.equal(fixYoungGeneration(['--min_semi_space_size', '4']), null)
  t.equal(fixYoungGeneration(['--semi-space-growth-factor=2']), null)
})

/** Script text: `young()`, the young generation's size (MB), and `churn()`, which allocates 20 MB that survives a while. */
const CHURN = `
  const young = () => require('node:v8').getHeapSpaceStatistics().find((s) => s.space_name === 'new_space').space_size / 1048576
  function churn() {
    const kept = []
    for (let r = 0; r < 200; r++) {
      const a = []
      for (let i = 0; i < 5000; i++) a.push({ i, s: 'x' + i })
      kept.push(a)
      if (kept.length > 20) kept.shift()
    }
  }`

/**
 * The young generation's size (MB) in a fresh node when `preload` has run,
 * and after allocating 20 MB that survives a while.
 */
function youngGenerationAfterLoad(preload: string): { atStart: number; afterLoad: number } {
  const script = `${preload}
    ${CHURN}
    const atStart = young()
    churn()
    process.stdout.write(JSON.stringify({ atStart, afterLoad: young() }))`
  return JSON.parse(execFileSync(process.execPath, ['-e', script], { encoding: 'utf8' })) as { atStart: number; afterLoad: number }
}

test('the server fixes it before it loads anything else, and V8 honours it', async (t) => {
  const policy = path.resolve(__dirname, '../src/core/heap-policy.js')
  const fixed = youngGenerationAfterLoad(`require(${JSON.stringify(policy)})`)
  const grown = youngGenerationAfterLoad('')
  // The size the policy found is kept: two 1 MB semi-spaces once the first
  // scavenge has committed both, or more when modules loaded before it (tap
  // adds its own --import to every child it spawns) had grown them already.
  // Left to itself, V8 grows them to 8 MB or more.
  const kept = Math.max(2, fixed.atStart)
  t.ok(fixed.afterLoad <= kept, `young generation ${fixed.afterLoad} MB with the policy, ${fixed.atStart} MB when it ran`)
  t.ok(grown.afterLoad >= 8, `young generation ${grown.afterLoad} MB without it`)
  const main = path.resolve(__dirname, '../src/main.js')
  const first = /require\("([^"]+)"\)/.exec(fs.readFileSync(main, 'utf8'))?.[1]
  t.equal(first, './core/heap-policy', 'main.js loads the heap policy before any other module')
})

/**
 * The young generation (MB) of the main thread and of a worker thread after
 * both allocated 20 MB that survives a while, the worker having run
 * `workerPreload` first and the main thread `afterStart` once it started.
 */
function youngGenerationWithWorker(workerPreload: string, afterStart: string, resourceLimits?: object): { main: number; worker: number } {
  const policy = JSON.stringify(path.resolve(__dirname, '../src/core/heap-policy.js'))
  const script = `const policy = require(${policy})
    const { Worker } = require('node:worker_threads')
    const worker = new Worker(\`${workerPreload}; ${CHURN}; churn(); require('node:worker_threads').parentPort.postMessage(young())\`, { eval: true, resourceLimits: ${JSON.stringify(resourceLimits)} })
    ${CHURN}
    worker.once('message', (workerYoung) => {
      ${afterStart}
      churn()
      process.stdout.write(JSON.stringify({ main: young(), worker: workerYoung }))
      worker.terminate()
    })`
  return JSON.parse(execFileSync(process.execPath, ['-e', script], { encoding: 'utf8' })) as { main: number; worker: number }
}

test('a worker thread undoes it for every thread unless each worker fixes it again (shard workers do)', async (t) => {
  const policy = path.resolve(__dirname, '../src/core/heap-policy.js')
  const fixed = youngGenerationWithWorker(`require(${JSON.stringify(policy)})`, 'policy.refixYoungGeneration()')
  t.ok(fixed.main <= 4 && fixed.worker <= 4, `young generations ${JSON.stringify(fixed)} MB with the policy in each thread`)
  const undone = youngGenerationWithWorker('', '')
  t.ok(undone.main >= 8 && undone.worker >= 8, `young generations ${JSON.stringify(undone)} MB when only the main thread set it before the worker started`)
  const shardWorker = path.resolve(__dirname, '../src/aggregate/shards/shard-worker.js')
  const first = /require\("([^"]+)"\)/.exec(fs.readFileSync(shardWorker, 'utf8'))?.[1]
  t.equal(first, '../../core/heap-policy', 'shard-worker.js loads the heap policy before any other module')
})

test('each shard worker\'s young generation is capped at 1 MB semi-spaces when its isolate is created', async (t) => {
  t.same(workerResourceLimits(['--max-semi-space-size=8']), undefined, 'unless the command line sized it')
  // No growth factor set in the worker: the cap alone holds it (left to itself it grows to 8 MB or more, test above).
  const capped = youngGenerationWithWorker('', '', workerResourceLimits([]))
  t.ok(capped.worker <= 2, `worker's young generation ${capped.worker} MB`)
  const shardWorkers = fs.readFileSync(path.resolve(__dirname, '../src/aggregate/shards/sharded-aggregator.js'), 'utf8')
  t.match(shardWorkers, /resourceLimits: .*workerResourceLimits\)?\(\)/, 'shard workers are started with it')
})
