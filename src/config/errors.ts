import { z } from 'zod'
import { ConfigError } from './config-error'

export { ConfigError }

type Issue = z.core.$ZodIssue

/**
 * Turns zod issues into a ConfigError with one `<file>: <path>: <message>`
 * line per problem. Parse with `{ reportInput: true }` so messages can show
 * the offending value. `schema` is the one that produced the issues; it is
 * used to suggest the intended key when an unknown key is a typo.
 */
/** The warning for a config whose flushes can reach no destination: `why` names what is missing. */
export function noDestination(why: string): string {
  return `no backend can receive a flush (${why}): every flush goes nowhere; add a backend that sends somewhere`
}

export function issuesToError(fileName: string, schema: z.ZodType, issues: readonly Issue[]): ConfigError {
  return new ConfigError(describeIssues(schema, issues).map((line) => `${fileName}: ${line}`).join('\n'))
}

/** One `<path>: <message>` line per problem (see issuesToError). */
export function describeIssues(schema: z.ZodType, issues: readonly Issue[]): string[] {
  return issues.flatMap((issue) => describeIssue(issue, [], schema))
}

/** `listeners[0].port`, `graphite["odd key"]`, or `(top level)` for the root. */
export function formatPath(path: readonly PropertyKey[]): string {
  let out = ''
  for (const key of path) {
    if (typeof key === 'number') out += `[${key}]`
    else if (typeof key === 'string' && /^[A-Za-z_$][\w$]*$/.test(key)) out += out === '' ? key : `.${key}`
    else out += `[${JSON.stringify(String(key))}]`
  }
  return out === '' ? '(top level)' : out
}

/** The candidate closest to `word`, if it is close enough to be a likely typo. */
export function closestKey(word: string, candidates: Iterable<string>): string | undefined {
  // Short words are within 2 edits of too many unrelated words.
  const limit = word.length <= 4 ? 1 : 2
  let best: string | undefined
  let bestDistance = limit + 1
  for (const candidate of candidates) {
    const d = editDistance(word.toLowerCase(), candidate.toLowerCase())
    if (d < bestDistance) {
      best = candidate
      bestDistance = d
    }
  }
  return best
}

/** Optimal string alignment distance: Levenshtein plus adjacent transpositions. */
function editDistance(a: string, b: string): number {
  const rows: number[][] = []
  for (let i = 0; i <= a.length; i++) {
    const row: number[] = [i]
    for (let j = 1; j <= b.length; j++) {
      if (i === 0) {
        row.push(j)
        continue
      }
      const above = rows[i - 1] as number[]
      const cost = a[i - 1] === b[j - 1] ? 0 : 1
      let d = Math.min((above[j] as number) + 1, (row[j - 1] as number) + 1, (above[j - 1] as number) + cost)
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) {
        d = Math.min(d, ((rows[i - 2] as number[])[j - 2] as number) + 1)
      }
      row.push(d)
    }
    rows.push(row)
  }
  return (rows[a.length] as number[])[b.length] as number
}

function describeIssue(issue: Issue, base: readonly PropertyKey[], schema: z.ZodType): string[] {
  const path = [...base, ...issue.path]
  const at = formatPath(path)
  switch (issue.code) {
    case 'unrecognized_keys': {
      const known = objectKeysAt(schema, path)
      return issue.keys.map((key) => {
        const suggestion = closestKey(key, known)
        const hint = suggestion === undefined ? '' : ` (did you mean "${suggestion}"?)`
        return `${formatPath([...path, key])}: unknown key${hint}`
      })
    }
    case 'invalid_type':
      if (!('input' in issue) || issue.input === undefined) return [`${at}: is required (expected ${expectedName(issue.expected)})`]
      return [`${at}: expected ${expectedName(issue.expected)}, received ${describeValue(issue.input)}`]
    case 'invalid_value':
      return [`${at}: must be ${oneOf(issue.values)}${found(issue.input)}`]
    case 'invalid_union':
      return describeUnion(issue, path, schema)
    case 'too_small':
    case 'too_big':
      return [`${at}: ${issue.message.replace(/^Too (small|big): /, '')}${found(issue.input)}`]
    default:
      return [`${at}: ${issue.message}${found(issue.input)}`]
  }
}

function describeUnion(issue: z.core.$ZodIssueInvalidUnion, path: PropertyKey[], schema: z.ZodType): string[] {
  const at = formatPath(path)
  // A discriminated union whose tag is missing or unknown: the path already ends in the tag.
  if (issue.discriminator !== undefined && 'options' in issue && issue.options !== undefined) {
    const tag = isRecord(issue.input) ? issue.input[issue.discriminator] : undefined
    if (tag === undefined) return [`${at}: is required (${oneOf(issue.options)})`]
    return [`${at}: must be ${oneOf(issue.options)}${found(tag)}`]
  }
  // Alternatives that differ only in type (number | "inf", number | number[]): list them.
  const alternatives = issue.errors.map((branch) => {
    const only = branch[0]
    if (branch.length !== 1 || only === undefined || only.path.length !== 0) return undefined
    if (only.code === 'invalid_type') return expectedName(only.expected)
    if (only.code === 'invalid_value') return only.values.map((v) => JSON.stringify(v)).join(' or ')
    return undefined
  })
  if (alternatives.length > 0 && alternatives.every((a) => a !== undefined)) {
    return [`${at}: expected ${alternatives.join(' or ')}, received ${describeValue(issue.input)}`]
  }
  // Otherwise report the branch that got furthest (fewest problems).
  const branches = [...issue.errors].sort((a, b) => a.length - b.length)
  const nearest = branches[0]
  if (nearest === undefined || nearest.length === 0) return [`${at}: ${issue.message}`]
  return nearest.flatMap((sub) => describeIssue(sub, path, schema))
}

/** Keys of every object schema that can sit at `path` (union members merged). */
function objectKeysAt(schema: z.core.$ZodType, path: readonly PropertyKey[]): Set<string> {
  const keys = new Set<string>()
  const visit = (s: z.core.$ZodType, rest: readonly PropertyKey[]): void => {
    if (s instanceof z.ZodOptional || s instanceof z.ZodDefault || s instanceof z.ZodNullable) {
      visit(s.unwrap(), rest)
    } else if (s instanceof z.ZodPipe) {
      visit(s.in, rest)
    } else if (s instanceof z.ZodUnion) {
      for (const option of s.options) visit(option, rest)
    } else if (s instanceof z.ZodArray) {
      if (typeof rest[0] === 'number') visit(s.element, rest.slice(1))
    } else if (s instanceof z.ZodObject) {
      const shape: Record<string, z.core.$ZodType> = s.shape
      const [head, ...tail] = rest
      if (head === undefined) for (const key of Object.keys(shape)) keys.add(key)
      else if (typeof head === 'string' && Object.hasOwn(shape, head)) visit(shape[head] as z.core.$ZodType, tail)
    }
  }
  visit(schema, path)
  return keys
}

function expectedName(expected: string): string {
  return expected === 'int' ? 'an integer' : expected
}

function oneOf(values: readonly unknown[]): string {
  const shown = values.map((v) => JSON.stringify(v))
  return shown.length === 1 ? `${shown[0]}` : `one of ${shown.join(', ')}`
}

/** ` (found 150)` for scalar inputs; nothing for objects, which would be noise. */
function found(input: unknown): string {
  if (typeof input === 'number' || typeof input === 'boolean' || typeof input === 'string') {
    return ` (found ${JSON.stringify(input)})`
  }
  return ''
}

function describeValue(value: unknown): string {
  if (value === null) return 'null'
  if (Array.isArray(value)) return 'array'
  // A number where an integer (or a finite number) was expected: the value itself says why.
  if (typeof value === 'number' && !Number.isInteger(value)) return String(value)
  return typeof value
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}
