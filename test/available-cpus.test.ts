import t, { type Test } from 'tap'
import { readFileSync } from 'node:fs'
import { availableCpus } from '../src/core/available-cpus'

/** availableCpus on a fake cgroup tree (files in a temp dir) and a given parallelism. */
function cpusWith(t: Test, files: Record<string, string | Record<string, string>>, parallelism: number): ReturnType<typeof availableCpus> {
  const root = t.testdir(files)
  const read = (file: string): string | null => {
    try {
      return readFileSync(file, 'utf8')
    } catch {
      return null
    }
  }
  return availableCpus({ parallelism, read, cgroupRoot: root })
}

t.test('cgroup v2: ceil(quota / period), bounded by the CPUs the process may run on', async (t) => {
  t.strictSame(cpusWith(t, { 'cpu.max': '200000 100000\n' }, 8).cpus, 2)
  t.strictSame(cpusWith(t, { 'cpu.max': '150000 100000\n' }, 8).cpus, 2, 'a part of a CPU counts as one')
  t.strictSame(cpusWith(t, { 'cpu.max': '50000 100000\n' }, 8).cpus, 1)
  t.strictSame(cpusWith(t, { 'cpu.max': '800000 100000\n' }, 4), { cpus: 4, source: 'os.availableParallelism()' })
  const limited = cpusWith(t, { 'cpu.max': '300000 100000\n' }, 16)
  t.equal(limited.cpus, 3)
  t.match(limited.source, /cpu\.max$/)
})

t.test('cgroup v2 without a limit ("max"): the CPUs the process may run on', async (t) => {
  t.strictSame(cpusWith(t, { 'cpu.max': 'max 100000\n' }, 6), { cpus: 6, source: 'os.availableParallelism()' })
})

t.test('cgroup v1: cfs_quota_us / cfs_period_us; -1 is no limit', async (t) => {
  t.equal(cpusWith(t, { 'cpu,cpuacct': { 'cpu.cfs_quota_us': '250000\n', 'cpu.cfs_period_us': '100000\n' } }, 8).cpus, 3)
  t.equal(cpusWith(t, { cpu: { 'cpu.cfs_quota_us': '100000\n', 'cpu.cfs_period_us': '100000\n' } }, 8).cpus, 1)
  t.equal(cpusWith(t, { 'cpu,cpuacct': { 'cpu.cfs_quota_us': '-1\n', 'cpu.cfs_period_us': '100000\n' } }, 8).cpus, 8)
})

t.test('no cgroup files, or garbage in them: the CPUs the process may run on, at least one', async (t) => {
  t.equal(cpusWith(t, {}, 5).cpus, 5)
  t.equal(cpusWith(t, { 'cpu.max': 'garbage\n' }, 3).cpus, 3)
  t.equal(cpusWith(t, { 'cpu.max': '0 100000\n' }, 3).cpus, 3)
  t.equal(cpusWith(t, {}, 0).cpus, 1)
})

t.test('on this machine: a positive whole number', async (t) => {
  const { cpus } = availableCpus()
  t.ok(Number.isInteger(cpus) && cpus >= 1)
})

