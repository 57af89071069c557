/**
 * Test tokens: JWTs signed with `jose` by keys made for the test — an HS256 secret, an Ed25519
 * and an RSA key pair (with a JWKS of their public halves) — and the matching server `auth` option.
 */
import { generateKeyPairSync } from 'node:crypto'
import type { KeyObject } from 'node:crypto'
import type { AuthOptions } from '@statestream/server'
import { SignJWT, exportJWK } from 'jose'
import type { JSONWebKeySet } from 'jose'

/** The shared secret of HS256 test tokens (32 bytes, the least the server takes). */
export const SECRET = 'statestream-test-secret-0123456789'

/** What a test token says. */
export interface TokenClaims {
  scope?: string | string[]
  /** Seconds from now until `exp`; none when omitted. */
  expiresIn?: number
  issuer?: string
  audience?: string
  subject?: string
}

async function sign(claims: TokenClaims, key: Uint8Array | KeyObject, header: { alg: string; kid?: string }): Promise<string> {
  const jwt = new SignJWT(claims.scope === undefined ? {} : { scope: claims.scope }).setProtectedHeader(header).setIssuedAt()
  if (claims.expiresIn !== undefined) jwt.setExpirationTime(Math.floor(Date.now() / 1000) + claims.expiresIn)
  if (claims.issuer !== undefined) jwt.setIssuer(claims.issuer)
  if (claims.audience !== undefined) jwt.setAudience(claims.audience)
  if (claims.subject !== undefined) jwt.setSubject(claims.subject)
  return jwt.sign(key)
}

/** An HS256 token signed with `SECRET` (or `secret`). */
export function hsToken(claims: TokenClaims, secret = SECRET): Promise<string> {
  return sign(claims, new TextEncoder().encode(secret), { alg: 'HS256' })
}

/** A key pair of one kind, its PEM public key, and tokens signed by it. */
export interface KeyPair {
  publicPem: string
  privateKey: KeyObject
  publicKey: KeyObject
  alg: 'EdDSA' | 'RS256'
  kid: string
  token(claims: TokenClaims): Promise<string>
}

/** A fresh Ed25519 (EdDSA) or RSA (RS256) key pair. */
export function keyPair(kind: 'ed25519' | 'rsa', kid: string = kind): KeyPair {
  const { publicKey, privateKey } = kind === 'ed25519' ? generateKeyPairSync('ed25519') : generateKeyPairSync('rsa', { modulusLength: 2048 })
  const alg = kind === 'ed25519' ? 'EdDSA' : 'RS256'
  return {
    publicPem: publicKey.export({ type: 'spki', format: 'pem' }).toString(),
    privateKey,
    publicKey,
    alg,
    kid,
    token: (claims) => sign(claims, privateKey, { alg, kid }),
  }
}

/** A JWKS document of the public keys of `pairs`. */
export async function jwksOf(...pairs: KeyPair[]): Promise<JSONWebKeySet> {
  const keys = await Promise.all(
    pairs.map(async (pair) => ({ ...(await exportJWK(pair.publicKey)), kid: pair.kid, alg: pair.alg, use: 'sig' })),
  )
  return { keys }
}

/** The server `auth` option of HS256 with `SECRET`. */
export const HS_AUTH: AuthOptions = { secret: SECRET }

/** `Authorization` header of `token`. */
export function bearer(token: string): Record<string, string> {
  return { authorization: `Bearer ${token}` }
}
