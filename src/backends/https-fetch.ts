import { readFileSync } from 'node:fs'

/** fetch, or one that trusts the given CAs: what the HTTP backends (InfluxDB, remote write, OTLP) post with. */
export interface HttpsFetch {
  fetch(url: string, init: RequestInit): Promise<Response>
  close(): Promise<void>
}

/**
 * The global fetch, or with `caFile` undici's own fetch and an Agent whose
 * connect.ca is that PEM file (the global fetch takes no CA). The file is
 * read once, at start-up; undici is loaded only for such a backend.
 */
export function httpsFetch(caFile: string | undefined): HttpsFetch {
  if (caFile === undefined) return { fetch: (url, init) => fetch(url, init), close: async () => {} }
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const undici = require('undici') as typeof import('undici')
  const dispatcher = new undici.Agent({ connect: { ca: readFileSync(caFile) } })
  return {
    fetch: (url, init) => undici.fetch(url, { ...(init as object), dispatcher }) as unknown as Promise<Response>,
    close: () => dispatcher.close(),
  }
}
