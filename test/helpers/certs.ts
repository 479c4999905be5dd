import { generateKeyPairSync, randomBytes } from 'node:crypto'
import forge from 'node-forge'

/*
 * Certificates made in the test, without openssl: a CA and the leaves it
 * signs, with any validity period (for an expired one). Keys come from
 * node:crypto (native, fast); node-forge builds and signs the X.509.
 */

export interface KeyPair {
  cert: string
  key: string
}

export interface Authority extends KeyPair {
  issue(commonName: string, options?: { server?: boolean; notBefore?: Date; notAfter?: Date }): KeyPair
}

const DAY_MS = 86_400_000

function newKey(): { pem: string; forge: forge.pki.rsa.PrivateKey; publicKey: forge.pki.rsa.PublicKey } {
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 })
  const pem = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString()
  const key = forge.pki.privateKeyFromPem(pem) as forge.pki.rsa.PrivateKey
  return { pem, forge: key, publicKey: forge.pki.setRsaPublicKey(key.n, key.e) }
}

function baseCert(publicKey: forge.pki.PublicKey, commonName: string, notBefore: Date, notAfter: Date): forge.pki.Certificate {
  const cert = forge.pki.createCertificate()
  cert.publicKey = publicKey
  // Positive, unique serials: a leading 0x01 byte keeps the high bit clear.
  cert.serialNumber = '01' + randomBytes(8).toString('hex')
  cert.validity.notBefore = notBefore
  cert.validity.notAfter = notAfter
  cert.setSubject([{ name: 'commonName', value: commonName }])
  return cert
}

/** A self-signed CA valid from yesterday for a year. */
export function makeAuthority(commonName = 'statsd-ts test CA'): Authority {
  const ca = newKey()
  const caCert = baseCert(ca.publicKey, commonName, new Date(Date.now() - DAY_MS), new Date(Date.now() + 365 * DAY_MS))
  caCert.setIssuer(caCert.subject.attributes)
  caCert.setExtensions([
    { name: 'basicConstraints', cA: true, critical: true },
    { name: 'keyUsage', keyCertSign: true, cRLSign: true, critical: true },
  ])
  caCert.sign(ca.forge, forge.md.sha256.create())
  return {
    cert: forge.pki.certificateToPem(caCert),
    key: ca.pem,
    issue(cn, { server = false, notBefore = new Date(Date.now() - DAY_MS), notAfter = new Date(Date.now() + 30 * DAY_MS) } = {}) {
      const leaf = newKey()
      const cert = baseCert(leaf.publicKey, cn, notBefore, notAfter)
      cert.setIssuer(caCert.subject.attributes)
      cert.setExtensions([
        { name: 'basicConstraints', cA: false },
        { name: 'keyUsage', digitalSignature: true, keyEncipherment: true },
        { name: 'extKeyUsage', serverAuth: server, clientAuth: !server },
        ...(server ? [{ name: 'subjectAltName', altNames: [{ type: 2, value: 'localhost' }, { type: 7, ip: '127.0.0.1' }, { type: 7, ip: '::1' }] }] : []),
      ])
      cert.sign(ca.forge, forge.md.sha256.create())
      return { cert: forge.pki.certificateToPem(cert), key: leaf.pem }
    },
  }
}
