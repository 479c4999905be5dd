import { readFileSync } from 'node:fs'
import { z } from 'zod'

/*
 * The credential for admin writes (POST /health/*, the console's deletes and
 * `health up|down`) on an admin server bound to a non-loopback address. One
 * token serves both servers. `tokenFile` keeps it out of the main config
 * (mode 0600); the file is read whenever the config is (start-up, SIGHUP).
 * Not `auth`: that block holds statsgod's ingest tokens.
 */

/** Short tokens can be guessed, even at the rate failures are allowed. */
export const MIN_ADMIN_TOKEN_CHARS = 16

const adminToken = z
  .string()
  .min(MIN_ADMIN_TOKEN_CHARS, `an admin token needs at least ${MIN_ADMIN_TOKEN_CHARS} characters (e.g. openssl rand -hex 32)`)
  .regex(/^\S+$/, 'an admin token cannot contain whitespace')

/** As written in a file, before the token file is read (an Etsy config.js takes the same block). */
export const adminAuthInput = z.strictObject({
  token: adminToken.optional(),
  tokenFile: z.string().min(1).optional(),
  /**
   * Without a token, whether writes from the network are allowed (Etsy's
   * behaviour, set when an Etsy config.js is read) or refused (default).
   */
  openWrites: z.boolean().default(false),
})

export const adminAuthSchema = adminAuthInput.transform((auth, ctx) => {
  if (auth.tokenFile === undefined) return auth
  if (auth.token !== undefined) {
    ctx.addIssue({ code: 'custom', path: ['token'], message: 'set "token" or "tokenFile", not both' })
    return z.NEVER
  }
  let text: string
  try {
    text = readFileSync(auth.tokenFile, 'utf8')
  } catch (err) {
    ctx.addIssue({ code: 'custom', path: ['tokenFile'], message: `cannot read the admin token file: ${(err as Error).message}` })
    return z.NEVER
  }
  const parsed = adminToken.safeParse(text.trim())
  if (!parsed.success) {
    ctx.addIssue({ code: 'custom', path: ['tokenFile'], message: `${auth.tokenFile}: ${parsed.error.issues[0]!.message}` })
    return z.NEVER
  }
  // The file's token, as if given inline; redactSecrets() hides both.
  return { ...auth, token: parsed.data }
})

export type AdminAuthConfig = z.output<typeof adminAuthSchema>
