import { readFileSync } from 'node:fs'
import type tls from 'node:tls'
import type { TlsServerConfig } from '../config/tls-schema'

/**
 * The secure-context options of a TLS server, read from its files now (at
 * start, and again on SIGHUP for tls.Server#setSecureContext: connections
 * already open keep the context they started with).
 */
export function tlsContextOptions(cfg: TlsServerConfig): tls.SecureContextOptions {
  return {
    cert: readFileSync(cfg.certFile),
    key: readFileSync(cfg.keyFile),
    ...(cfg.clientCaFile !== undefined && { ca: readFileSync(cfg.clientCaFile) }),
  }
}

/**
 * tls.createServer's options: the context, client certificates asked for
 * when a client CA is set, the handshake deadline. A client whose
 * certificate does not verify is refused by the caller (see
 * refuseUnverifiedClient), not by Node, which would close it without saying
 * why.
 */
export function tlsServerOptions(cfg: TlsServerConfig): tls.TlsOptions {
  return { ...tlsContextOptions(cfg), requestCert: cfg.clientCaFile !== undefined, rejectUnauthorized: false, handshakeTimeout: cfg.handshakeTimeoutMs }
}

/** mTLS: why this client's certificate is refused (e.g. CERT_HAS_EXPIRED), or null if it verified. */
export function clientCertificateProblem(socket: tls.TLSSocket): string | null {
  if (socket.authorized) return null
  // Node reports a missing certificate as UNABLE_TO_GET_ISSUER_CERT.
  if (Object.keys(socket.getPeerCertificate()).length === 0) return 'NO_CLIENT_CERTIFICATE'
  const reason = socket.authorizationError as Error | string | null
  return reason === null ? 'UNVERIFIED' : typeof reason === 'string' ? reason : ((reason as { code?: string }).code ?? reason.message)
}

/**
 * SIGHUP: new handshakes use the files as they are now; open connections keep
 * theirs. Files that do not load are logged and the ones in use are kept.
 */
export function reloadCertificates(
  server: tls.Server,
  cfg: TlsServerConfig,
  log: { info(obj: object, msg: string): void; error(obj: object, msg: string): void },
): void {
  try {
    server.setSecureContext(tlsContextOptions(cfg))
    log.info({ certFile: cfg.certFile }, 'TLS certificates reloaded')
  } catch (err) {
    log.error({ err, certFile: cfg.certFile, keyFile: cfg.keyFile }, 'TLS certificates not reloaded: keeping the ones in use')
  }
}
