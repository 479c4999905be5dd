import { accessSync, constants } from 'node:fs'
import { z } from 'zod'

/*
 * TLS on a server socket (a TCP listener, the admin HTTP server): files, not
 * PEM text, so that keys stay out of the config and can be rotated. The
 * files are only checked for readability here; they are read when the
 * server starts and again on SIGHUP.
 */

export const readableFile = z
  .string()
  .min(1)
  .superRefine((path, ctx) => {
    try {
      accessSync(path, constants.R_OK)
    } catch (err) {
      ctx.addIssue({ code: 'custom', message: `cannot read ${path}: ${(err as Error).message}` })
    }
  })

export const tlsServerSchema = z.strictObject({
  /** PEM: the server's certificate, followed by any intermediates. */
  certFile: readableFile,
  keyFile: readableFile,
  /** PEM: CAs that sign client certificates. Set, every client must present one they signed (mTLS). */
  clientCaFile: readableFile.optional(),
  /** A client that has not completed its handshake by then is cut off and counted. */
  handshakeTimeoutMs: z.number().int().positive().default(10_000),
})

export type TlsServerConfig = z.output<typeof tlsServerSchema>
