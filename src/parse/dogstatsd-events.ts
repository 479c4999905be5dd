/*
 * DogStatsD events and service checks, read exactly as the Datadog agent
 * reads them (rare lines: strings are fine here):
 *
 *   _e{<title bytes>,<text bytes>}:<title>|<text>[|d:<ts>][|h:<host>][|k:<aggregation key>]
 *       [|p:normal|low][|s:<source type>][|t:info|warning|error|success][|#<tags>][|c:..][|e:..][|card:..]
 *   _sc|<name>|<status 0-3>[|d:<ts>][|h:<host>][|#<tags>][|m:<message>][|c:..][|e:..][|card:..]
 *
 * Title and text are counted in UTF-8 bytes (so they may hold "|"); "\\n"
 * in them (and in a service check's message) stands for a newline. A
 * service check's message is its last field: it runs to the line's end.
 */

export type AlertType = 'info' | 'warning' | 'error' | 'success'

export interface DogStatsdEvent {
  title: string
  text: string
  /** Unix seconds: the client's "d:", else when it was received. */
  timestamp: number
  hostname?: string
  aggregationKey?: string
  priority: 'normal' | 'low'
  sourceType?: string
  alertType: AlertType
  tags: string[]
}

/** 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN. */
export type ServiceCheckStatus = 0 | 1 | 2 | 3

export interface ServiceCheck {
  name: string
  status: ServiceCheckStatus
  /** Unix seconds: the client's "d:", else when it was received. */
  timestamp: number
  hostname?: string
  tags: string[]
  message?: string
}

const ALERT_TYPES: readonly string[] = ['info', 'warning', 'error', 'success']
const HEADER = /^_e\{(\d{1,7}),(\d{1,7})\}:/

/** The event in buf[start, end), or why it is not one. `now`: Unix seconds, for an event without "d:". */
export function parseEvent(buf: Buffer, start: number, end: number, now: number): DogStatsdEvent | string {
  const head = HEADER.exec(buf.toString('latin1', start, Math.min(end, start + 20)))
  if (head === null) return 'bad event header'
  const titleLength = Number(head[1])
  const textLength = Number(head[2])
  if (titleLength === 0) return 'empty event title'
  const titleStart = start + head[0].length
  const textStart = titleStart + titleLength + 1
  const textEnd = textStart + textLength
  if (textEnd > end || buf[textStart - 1] !== PIPE || (textEnd < end && buf[textEnd] !== PIPE)) return 'event lengths do not match'
  const event: DogStatsdEvent = {
    title: unescapeNewlines(buf.toString('utf8', titleStart, textStart - 1)),
    text: unescapeNewlines(buf.toString('utf8', textStart, textEnd)),
    timestamp: now,
    priority: 'normal',
    alertType: 'info',
    tags: [],
  }
  for (const field of fields(buf, textEnd, end)) {
    if (field.startsWith('d:')) {
      const ts = timestamp(field.slice(2))
      if (ts === null) return 'bad event timestamp'
      event.timestamp = ts
    } else if (field.startsWith('h:')) event.hostname = field.slice(2)
    else if (field.startsWith('k:')) event.aggregationKey = field.slice(2)
    else if (field.startsWith('p:')) {
      const priority = field.slice(2)
      if (priority !== 'normal' && priority !== 'low') return 'bad event priority'
      event.priority = priority
    } else if (field.startsWith('s:')) event.sourceType = field.slice(2)
    else if (field.startsWith('t:')) {
      const alert = field.slice(2)
      if (!ALERT_TYPES.includes(alert)) return 'bad event alert type'
      event.alertType = alert as AlertType
    } else if (field.startsWith('#')) event.tags = tags(field)
    else if (!isIgnoredField(field)) return 'unknown event field'
  }
  return event
}

/** The service check in buf[start, end), or why it is not one. */
export function parseServiceCheck(buf: Buffer, start: number, end: number, now: number): ServiceCheck | string {
  const text = buf.toString('utf8', start, end)
  const parts = text.split('|')
  // parts[0] is "_sc"
  const name = parts[1] ?? ''
  if (name === '') return 'empty service check name'
  const status = parts[2] ?? ''
  if (!/^[0-3]$/.test(status)) return 'bad service check status'
  const check: ServiceCheck = { name, status: Number(status) as ServiceCheckStatus, timestamp: now, tags: [] }
  for (let i = 3; i < parts.length; i++) {
    const field = parts[i]!
    if (field.startsWith('m:')) {
      // The message is the last field: it keeps any "|" it holds.
      check.message = unescapeNewlines(parts.slice(i).join('|').slice(2)).replace(/m\\:/g, 'm:')
      break
    }
    if (field.startsWith('d:')) {
      const ts = timestamp(field.slice(2))
      if (ts === null) return 'bad service check timestamp'
      check.timestamp = ts
    } else if (field.startsWith('h:')) check.hostname = field.slice(2)
    else if (field.startsWith('#')) check.tags = tags(field)
    else if (!isIgnoredField(field)) return 'unknown service check field'
  }
  return check
}

const PIPE = 124

/** The "|"-separated fields of buf[from, end), from a "|". */
function fields(buf: Buffer, from: number, end: number): string[] {
  if (from >= end) return []
  return buf.toString('utf8', from + 1, end).split('|')
}

/** The container ID, external data and cardinality fields: read, not kept (as for metrics). */
function isIgnoredField(field: string): boolean {
  return field.startsWith('c:') || field.startsWith('e:') || /^card:(none|low|orchestrator|high)$/.test(field)
}

function tags(field: string): string[] {
  return field
    .slice(1)
    .split(',')
    .filter((tag) => tag !== '')
}

function timestamp(digits: string): number | null {
  return /^\d{1,12}$/.test(digits) ? Number(digits) : null
}

function unescapeNewlines(text: string): string {
  return text.replace(/\\n/g, '\n')
}
