import type { Test } from 'tap'

/** Sets environment variables for the test (and the servers it starts), restored after it. */
export function withEnv(t: Test, vars: Record<string, string>): void {
  const saved = Object.fromEntries(Object.keys(vars).map((name) => [name, process.env[name]]))
  t.teardown(() => {
    for (const [name, value] of Object.entries(saved)) {
      if (value === undefined) delete process.env[name]
      else process.env[name] = value
    }
  })
  Object.assign(process.env, vars)
}
