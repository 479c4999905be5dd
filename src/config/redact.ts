import type { Config } from './schema'

/*
 * The config as it may be shown: by --print-config, the console's `config`
 * command and the admin plane. Secrets (the admin token, statsgod's ingest
 * tokens, backend passwords and tokens, credentials in a URL) are replaced;
 * where they came from a file, the file's name is enough.
 */

export const REDACTED = '<redacted>'

export function redactSecrets(config: Config): Config {
  const { tokens, tokensFile } = config.auth
  return {
    ...config,
    // A statsgod tokens file merged its tokens into `tokens`: the file's name says where they are.
    auth: { ...config.auth, tokens: tokensFile !== undefined ? {} : redactKeys(tokens) },
    adminAuth: redactAdminToken(config.adminAuth),
    backends: config.backends.map((b) => {
      if (b.type !== 'influxdb') return b
      return {
        ...b,
        url: withoutCredentials(b.url),
        ...(b.password !== undefined && { password: REDACTED }),
        ...(b.token !== undefined && { token: REDACTED }),
      }
    }),
  }
}

function redactAdminToken(auth: Config['adminAuth']): Config['adminAuth'] {
  if (auth.token === undefined) return auth
  const { token: _, ...rest } = auth
  // A token read from tokenFile is not shown at all; an inline one is masked.
  return auth.tokenFile !== undefined ? rest : { ...rest, token: REDACTED }
}

/** Each token becomes "<redacted>-1", "<redacted>-2"...: how many there are, and which are revoked, still shows. */
function redactKeys(tokens: Record<string, boolean>): Record<string, boolean> {
  return Object.fromEntries(Object.values(tokens).map((valid, i) => [`${REDACTED}-${i + 1}`, valid]))
}

/** "https://user:secret@host/" -> "https://redacted@host/". */
export function withoutCredentials(url: string): string {
  try {
    const parsed = new URL(url)
    if (parsed.username === '' && parsed.password === '') return url
    parsed.username = 'redacted'
    parsed.password = ''
    return parsed.toString()
  } catch {
    return url
  }
}
