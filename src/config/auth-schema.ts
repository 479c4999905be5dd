import { readFileSync } from 'node:fs'
import { z } from 'zod'

/*
 * Token authentication (statsgod's scheme): `auth.tokens` maps a token to
 * true (valid) or false (revoked); `auth.tokensFile` names a file with one
 * valid token per line, so tokens can live apart from the main config (mode
 * 0600). The file is read whenever the config is (start-up and SIGHUP).
 */

/** A token is the first dot-separated segment of a metric name, so it cannot contain a dot. */
export const tokenSchema = z
  .string()
  .regex(/^[^.:|\s]+$/, 'a token must be non-empty, without ".", ":", "|" or whitespace')

export const authSchema = z
  .strictObject({
    tokens: z.record(tokenSchema, z.boolean()).default({}),
    tokensFile: z.string().min(1).optional(),
  })
  .transform((auth, ctx) => {
    if (auth.tokensFile === undefined) return auth
    let text: string
    try {
      text = readFileSync(auth.tokensFile, 'utf8')
    } catch (err) {
      ctx.addIssue({ code: 'custom', path: ['tokensFile'], message: `cannot read the tokens file: ${(err as Error).message}` })
      return z.NEVER
    }
    // An explicit `false` in auth.tokens revokes a token even if the file still lists it.
    const tokens: Record<string, boolean> = {}
    const lines = text.split('\n')
    for (let i = 0; i < lines.length; i++) {
      const line = lines[i]!.trim()
      if (line === '' || line.startsWith('#')) continue
      if (!tokenSchema.safeParse(line).success) {
        ctx.addIssue({
          code: 'custom',
          path: ['tokensFile'],
          message: `${auth.tokensFile} line ${i + 1}: a token must be non-empty, without ".", ":", "|" or whitespace`,
        })
        return z.NEVER
      }
      tokens[line] = true
    }
    return { ...auth, tokens: { ...tokens, ...auth.tokens } }
  })

export type AuthConfig = z.output<typeof authSchema>
