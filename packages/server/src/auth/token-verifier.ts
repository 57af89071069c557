/**
 * Bearer tokens: JWTs verified with `jose`, by one of three kinds of key — an HS256 shared secret,
 * an Ed25519 or RSA public key (EdDSA / RS256), or a JWKS document of public keys (chosen by the
 * token's `kid`). Only those algorithms are accepted for the key given, so a token can never pick
 * a weaker one (no `none`, no HS256 signed with a public key).
 */
import { createPublicKey } from 'node:crypto'
import type { KeyObject } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { ErrorCode, StateStreamError } from '@statestream/common'
import { createLocalJWKSet, errors, jwtVerify } from 'jose'
import type { JSONWebKeySet, JWTVerifyGetKey } from 'jose'
import { parseGrants } from './grants.ts'
import type { Grants } from './grants.ts'

/**
 * Access control (design §2.5). Give exactly one of `secret`, `publicKey` or `jwks`. Off when the
 * plugin has no `auth` option.
 */
export interface AuthOptions {
  /** HS256 shared secret, at least 32 bytes. */
  secret?: string | Uint8Array
  /** An Ed25519 (EdDSA) or RSA (RS256) public key, PEM (SPKI `-----BEGIN PUBLIC KEY-----`). */
  publicKey?: string
  /** A JWKS document (`{ "keys": [...] }`) of Ed25519 or RSA public keys. */
  jwks?: JSONWebKeySet
  /** When given, a token's `iss` must be (one of) this. */
  issuer?: string | string[]
  /** When given, a token's `aud` must hold (one of) this. */
  audience?: string | string[]
  /** Leeway for `exp` and `nbf`, in seconds. Default 0. */
  clockToleranceSeconds?: number
}

/** A verified token: what it grants and until when. */
export interface Credentials {
  grants: Grants
  /** `exp` in ms since the epoch; `null` when the token does not expire. */
  expiresAt: number | null
  /** The token itself: the key of per-token limits. */
  token: string
}

/** Smallest HS256 secret, in bytes (RFC 7518 §3.2: at least the hash's size). */
const MIN_SECRET_BYTES = 32
const ASYMMETRIC = ['EdDSA', 'Ed25519', 'RS256']

/** Verifies bearer tokens against one configured key. */
export class TokenVerifier {
  readonly #key: Uint8Array | KeyObject | JWTVerifyGetKey
  readonly #algorithms: string[]
  readonly #options: AuthOptions

  /** Throws a `RangeError` naming what is wrong with `options` (bad configuration is not a request error). */
  constructor(options: AuthOptions) {
    this.#options = options
    const given = [options.secret, options.publicKey, options.jwks].filter((value) => value !== undefined).length
    if (given !== 1) throw new RangeError('auth needs exactly one of a secret, a public key or a JWKS')
    if (options.secret !== undefined) {
      const secret = typeof options.secret === 'string' ? new TextEncoder().encode(options.secret) : options.secret
      if (secret.length < MIN_SECRET_BYTES) throw new RangeError(`the auth secret must be at least ${MIN_SECRET_BYTES} bytes`)
      this.#key = secret
      this.#algorithms = ['HS256']
    } else if (options.publicKey !== undefined) {
      let key: KeyObject
      try {
        key = createPublicKey(options.publicKey)
      } catch {
        throw new RangeError('the auth public key is not a PEM public key')
      }
      if (key.asymmetricKeyType === 'ed25519') this.#algorithms = ['EdDSA', 'Ed25519']
      else if (key.asymmetricKeyType === 'rsa') this.#algorithms = ['RS256']
      else throw new RangeError(`the auth public key must be Ed25519 or RSA, not ${key.asymmetricKeyType ?? 'unknown'}`)
      this.#key = key
    } else {
      const jwks = options.jwks
      if (typeof jwks !== 'object' || jwks === null || !Array.isArray((jwks as { keys?: unknown }).keys)) {
        throw new RangeError('the auth JWKS must be an object with a "keys" array')
      }
      this.#key = createLocalJWKSet(jwks as JSONWebKeySet)
      this.#algorithms = ASYMMETRIC
    }
  }

  /** Verifies the `Authorization` header's bearer token; throws `UNAUTHORIZED` unless it is valid. */
  async verify(authorization: string | undefined): Promise<Credentials> {
    const token = bearerToken(authorization)
    try {
      const options = {
        algorithms: this.#algorithms,
        ...(this.#options.issuer !== undefined && { issuer: this.#options.issuer }),
        ...(this.#options.audience !== undefined && { audience: this.#options.audience }),
        clockTolerance: this.#options.clockToleranceSeconds ?? 0,
      }
      const key = this.#key
      const { payload } = typeof key === 'function' ? await jwtVerify(token, key, options) : await jwtVerify(token, key, options)
      return {
        grants: parseGrants(payload.scope),
        expiresAt: typeof payload.exp === 'number' ? payload.exp * 1000 : null,
        token,
      }
    } catch (error) {
      throw unauthorized(tokenProblem(error), error)
    }
  }
}

/** The token of an `Authorization: Bearer <token>` header. */
function bearerToken(authorization: string | undefined): string {
  if (authorization === undefined || authorization === '') throw unauthorized('this server needs an Authorization: Bearer <token> header')
  const match = /^Bearer +([A-Za-z0-9._~+/=-]+) *$/i.exec(authorization)
  if (match === null) throw unauthorized('the Authorization header is not "Bearer <token>"')
  return match[1] as string
}

/** Why a token was refused, in words that say what to do and leak nothing of the key. */
function tokenProblem(error: unknown): string {
  if (error instanceof errors.JWTExpired) return 'the token has expired: renew it'
  if (error instanceof errors.JWTClaimValidationFailed) return `the token's "${error.claim}" claim is not accepted`
  if (error instanceof errors.JOSEAlgNotAllowed) return 'the token is signed with an algorithm this server does not accept'
  if (error instanceof errors.JWKSNoMatchingKey) return 'no key of this server matches the token'
  if (error instanceof errors.JWSSignatureVerificationFailed) return 'the token signature is not valid'
  return 'the token is not a valid JWT'
}

/** A `401 UNAUTHORIZED`, with the challenge RFC 6750 asks for. */
export function unauthorized(message: string, cause?: unknown): StateStreamError {
  return new StateStreamError(ErrorCode.UNAUTHORIZED, message, {
    ...(cause !== undefined && { cause }),
    headers: { 'www-authenticate': cause === undefined ? 'Bearer realm="statestream"' : 'Bearer realm="statestream", error="invalid_token"' },
  })
}

/**
 * `AuthOptions` from configuration as a standalone server takes it: a secret, or the path of a PEM
 * public key file, or the path of a JWKS file (with issuer and audience). Throws a `RangeError`
 * with one clear line when a file cannot be read or parsed.
 */
export function authFromConfig(config: {
  secret?: string | undefined
  publicKeyFile?: string | undefined
  jwksFile?: string | undefined
  issuer?: string | undefined
  audience?: string | undefined
}): AuthOptions | undefined {
  const read = (file: string, what: string): string => {
    try {
      return readFileSync(file, 'utf8')
    } catch (error) {
      throw new RangeError(`cannot read the ${what} file ${file}: ${(error as NodeJS.ErrnoException).code ?? 'error'}`)
    }
  }
  const claims = {
    ...(config.issuer !== undefined && { issuer: config.issuer }),
    ...(config.audience !== undefined && { audience: config.audience }),
  }
  const options: AuthOptions[] = []
  if (config.secret !== undefined) options.push({ secret: config.secret, ...claims })
  if (config.publicKeyFile !== undefined) options.push({ publicKey: read(config.publicKeyFile, 'public key'), ...claims })
  if (config.jwksFile !== undefined) {
    const text = read(config.jwksFile, 'JWKS')
    let jwks: JSONWebKeySet
    try {
      jwks = JSON.parse(text) as JSONWebKeySet
    } catch {
      throw new RangeError(`the JWKS file ${config.jwksFile} is not JSON`)
    }
    options.push({ jwks, ...claims })
  }
  if (options.length > 1) throw new RangeError('give one of an auth secret, a public key file or a JWKS file')
  const chosen = options[0]
  if (chosen !== undefined) new TokenVerifier(chosen) // fails now, with the reason, rather than at the first request
  return chosen
}
