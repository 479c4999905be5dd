import { readFileSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'

/*
 * How many CPUs this process may really use: the smaller of the CPUs it may
 * be scheduled on (os.availableParallelism: affinity, cpusets) and its CFS
 * bandwidth quota. A container given "--cpus=2" on a 64-core host sees 64
 * CPUs but gets two CPUs' worth of time: 64 aggregation threads there would
 * only contend. The quota is read from cgroup v2 (cpu.max) and, where that
 * is absent, cgroup v1 (cpu.cfs_quota_us / cpu.cfs_period_us).
 */

export interface CpuLimit {
  cpus: number
  /** Where the figure came from, for the start-up log. */
  source: string
}

export interface CpuLimitSources {
  /** CPUs the process may be scheduled on. */
  parallelism: number
  /** Reads a file, or returns null if it cannot. */
  read: (file: string) => string | null
  cgroupRoot: string
}

function readOrNull(file: string): string | null {
  try {
    return readFileSync(file, 'utf8')
  } catch {
    return null
  }
}

const SYSTEM: CpuLimitSources = { parallelism: os.availableParallelism(), read: readOrNull, cgroupRoot: '/sys/fs/cgroup' }

export function availableCpus(sources: CpuLimitSources = SYSTEM): CpuLimit {
  const quota = cgroupQuota(sources)
  if (quota !== null && quota.cpus < sources.parallelism) return quota
  return { cpus: Math.max(1, sources.parallelism), source: 'os.availableParallelism()' }
}

/** ceil(quota / period) from cgroup v2 or v1; null when unlimited or unreadable. */
function cgroupQuota({ read, cgroupRoot }: CpuLimitSources): CpuLimit | null {
  const v2File = path.join(cgroupRoot, 'cpu.max')
  const v2 = read(v2File)
  if (v2 !== null) {
    // "max 100000" (no limit) or "200000 100000".
    const [quota, period] = v2.trim().split(/\s+/)
    return fromQuota(Number(quota), Number(period), v2File)
  }
  for (const dir of ['cpu,cpuacct', 'cpu']) {
    const quotaFile = path.join(cgroupRoot, dir, 'cpu.cfs_quota_us')
    const quota = read(quotaFile)
    const period = read(path.join(cgroupRoot, dir, 'cpu.cfs_period_us'))
    // A quota of -1 means no limit.
    if (quota !== null && period !== null) return fromQuota(Number(quota.trim()), Number(period.trim()), quotaFile)
  }
  return null
}

function fromQuota(quota: number, period: number, source: string): CpuLimit | null {
  if (!Number.isFinite(quota) || !Number.isFinite(period) || quota <= 0 || period <= 0) return null
  return { cpus: Math.max(1, Math.ceil(quota / period)), source }
}
