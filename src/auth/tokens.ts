import { createSecretKey, randomBytes, type KeyObject } from 'node:crypto';
import { errors, jwtVerify, SignJWT } from 'jose';

/** Signs and verifies the bearer tokens: HS256 JWTs whose `sub` is the account id. */
export interface Tokens {
  sign(accountId: number): Promise<string>;
  /** The account id of a valid token; throws InvalidTokenError for anything else. */
  verify(token: string): Promise<number>;
}

export class InvalidTokenError extends Error {
  readonly reason: 'expired' | 'invalid';
  constructor(reason: 'expired' | 'invalid', message: string) {
    super(message);
    this.name = 'InvalidTokenError';
    this.reason = reason;
  }
}

export interface TokenOptions {
  /** At least 32 bytes (HS256's key size, RFC 7518 §3.2). */
  readonly secret: string | Uint8Array;
  /** Lifetime of a token, in seconds. */
  readonly ttlSeconds: number;
}

export const MIN_SECRET_BYTES = 32;

export function createTokens({ secret, ttlSeconds }: TokenOptions): Tokens {
  const bytes = typeof secret === 'string' ? Buffer.from(secret, 'utf8') : Buffer.from(secret);
  if (bytes.length < MIN_SECRET_BYTES) {
    throw new TypeError(`the token secret must be at least ${MIN_SECRET_BYTES} bytes, got ${bytes.length}`);
  }
  if (!Number.isSafeInteger(ttlSeconds) || ttlSeconds < 1) {
    throw new TypeError(`the token lifetime must be a positive number of seconds, got ${ttlSeconds}`);
  }
  const key: KeyObject = createSecretKey(bytes);
  return {
    sign: (accountId) =>
      new SignJWT({}).setProtectedHeader({ alg: 'HS256' }).setSubject(String(accountId)).setIssuedAt()
        .setExpirationTime(Math.floor(Date.now() / 1000) + ttlSeconds).sign(key),
    async verify(token) {
      let sub: string | undefined;
      try {
        // algorithms pinned: a token cannot choose `none` or another algorithm for itself.
        ({ payload: { sub } } = await jwtVerify(token, key, { algorithms: ['HS256'], requiredClaims: ['sub', 'exp'] }));
      } catch (error) {
        if (error instanceof errors.JWTExpired) throw new InvalidTokenError('expired', 'The token has expired');
        throw new InvalidTokenError('invalid', 'The token is invalid');
      }
      const id = /^[1-9][0-9]{0,15}$/.test(sub ?? '') ? Number(sub) : NaN;
      if (!Number.isSafeInteger(id)) throw new InvalidTokenError('invalid', 'The token is invalid');
      return id;
    },
  };
}

/** A secret for one process (tokens die with it): for development and tests when none is configured. */
export function randomSecret(): Uint8Array {
  return randomBytes(MIN_SECRET_BYTES);
}
