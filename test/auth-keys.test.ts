/**
 * The kinds of key access control takes — an HS256 secret, an Ed25519 or RSA public key, a JWKS —
 * and the standalone server's configuration of them (a secret, a key file, a JWKS file): each
 * accepts the tokens its key signed and no other, and a bad key is one clear error at start.
 */
import { writeFileSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { authFromConfig, buildApp } from '@statestream/server'
import type { AuthOptions } from '@statestream/server'
import { describe, expect, test } from 'vitest'
import { SECRET, bearer, hsToken, jwksOf, keyPair } from './support/tokens.ts'

/** The status of `GET /v1/windows/s` (a read of a missing stream: 404 once authorized) with `token`. */
async function statusWith(auth: AuthOptions, token: string): Promise<number> {
  const app = await buildApp({ auth })
  try {
    return (await app.inject({ url: '/v1/windows/s', headers: bearer(token) })).statusCode
  } finally {
    await app.close()
  }
}

const ed = keyPair('ed25519', 'ed-1')
const rsa = keyPair('rsa', 'rsa-1')
const stranger = keyPair('ed25519', 'ed-2')

describe('keys', () => {
  test('an HS256 secret accepts its own tokens only', async () => {
    expect(await statusWith({ secret: SECRET }, await hsToken({ scope: 'read:*' }))).toBe(404)
    expect(await statusWith({ secret: SECRET }, await hsToken({ scope: 'read:*' }, `${SECRET}!`))).toBe(401)
    expect(await statusWith({ secret: SECRET }, await ed.token({ scope: 'read:*' }))).toBe(401)
  })

  test.for([
    ['Ed25519 (EdDSA)', ed],
    ['RSA (RS256)', rsa],
  ] as const)('an %s public key accepts its own tokens only', async ([, pair]) => {
    const auth = { publicKey: pair.publicPem }
    expect(await statusWith(auth, await pair.token({ scope: 'read:*' }))).toBe(404)
    expect(await statusWith(auth, await stranger.token({ scope: 'read:*' }))).toBe(401)
    expect(await statusWith(auth, await hsToken({ scope: 'read:*' }))).toBe(401)
    // Algorithm confusion: an HS256 token whose "secret" is the public key itself.
    expect(await statusWith(auth, await hsToken({ scope: 'read:*' }, pair.publicPem))).toBe(401)
  })

  test('a JWKS accepts tokens of each of its keys, chosen by kid, and no other', async () => {
    const auth = { jwks: await jwksOf(ed, rsa) }
    expect(await statusWith(auth, await ed.token({ scope: 'read:*' }))).toBe(404)
    expect(await statusWith(auth, await rsa.token({ scope: 'read:*' }))).toBe(404)
    expect(await statusWith(auth, await stranger.token({ scope: 'read:*' }))).toBe(401)
  })

  test('issuer and audience, when configured, must match', async () => {
    const auth = { secret: SECRET, issuer: 'https://issuer.example', audience: 'statestream' }
    expect(await statusWith(auth, await hsToken({ scope: 'read:*', issuer: 'https://issuer.example', audience: 'statestream' }))).toBe(404)
    expect(await statusWith(auth, await hsToken({ scope: 'read:*', issuer: 'https://other.example', audience: 'statestream' }))).toBe(401)
    expect(await statusWith(auth, await hsToken({ scope: 'read:*', issuer: 'https://issuer.example' }))).toBe(401)
  })

  test.for([
    ['no key at all', {}, 'exactly one'],
    ['two keys', { secret: SECRET, publicKey: ed.publicPem }, 'exactly one'],
    ['a short secret', { secret: 'short' }, '32 bytes'],
    ['a key that is not PEM', { publicKey: 'not a key' }, 'PEM'],
    ['a JWKS without keys', { jwks: { nope: [] } as never }, 'keys'],
  ] as const)('%s fails the registration with a clear error', async ([, auth, words]) => {
    await expect(buildApp({ auth })).rejects.toThrow(words)
  })
})

describe('the standalone configuration', () => {
  test('a secret, a public key file or a JWKS file; a file that cannot be read or parsed is one clear line', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'statestream-auth-'))
    try {
      const keyFile = join(dir, 'key.pem')
      const jwksFile = join(dir, 'jwks.json')
      const badJson = join(dir, 'bad.json')
      writeFileSync(keyFile, ed.publicPem)
      writeFileSync(jwksFile, JSON.stringify(await jwksOf(rsa)))
      writeFileSync(badJson, '{ nope')
      expect(authFromConfig({})).toBeUndefined()
      expect(await statusWith(authFromConfig({ secret: SECRET }) as AuthOptions, await hsToken({ scope: 'read:*' }))).toBe(404)
      expect(await statusWith(authFromConfig({ publicKeyFile: keyFile }) as AuthOptions, await ed.token({ scope: 'read:*' }))).toBe(404)
      expect(await statusWith(authFromConfig({ jwksFile }) as AuthOptions, await rsa.token({ scope: 'read:*' }))).toBe(404)
      expect(() => authFromConfig({ publicKeyFile: join(dir, 'missing.pem') })).toThrow(/cannot read the public key file .*ENOENT/)
      expect(() => authFromConfig({ jwksFile: badJson })).toThrow('is not JSON')
      expect(() => authFromConfig({ secret: SECRET, jwksFile })).toThrow('one of')
      expect(() => authFromConfig({ publicKeyFile: badJson })).toThrow('PEM')
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
  })
})
