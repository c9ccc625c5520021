import { SignJWT } from 'jose';
import { DECOY_HASH, hashPassword, verifyPassword } from '../../src/auth/password.ts';
import { createTokens, InvalidTokenError } from '../../src/auth/tokens.ts';
import { readConfig } from '../../src/server/config.ts';

const SECRET = 'a'.repeat(32);

describe('passwords', () => {
  it('are salted per password and verified in constant time against their own hash only', async () => {
    const [one, two] = await Promise.all([hashPassword('correct horse'), hashPassword('correct horse')]);
    expect(one).toMatch(/^scrypt\$32768\$8\$1\$[A-Za-z0-9_-]{22}\$[A-Za-z0-9_-]{43}$/);
    expect(one).not.toBe(two);
    expect(await verifyPassword('correct horse', one)).toBe(true);
    expect(await verifyPassword('correct horsf', one)).toBe(false);
    expect(await verifyPassword('correct horse', DECOY_HASH)).toBe(false);
    for (const malformed of ['', 'bcrypt$x', 'scrypt$0$8$1$abc$def', 'scrypt$a$b$c$d$e']) {
      expect(await verifyPassword('correct horse', malformed)).toBe(false);
    }
  });
});

describe('tokens', () => {
  it('carry the account id as sub and expire after the configured lifetime', async () => {
    const tokens = createTokens({ secret: SECRET, ttlSeconds: 60 });
    const token = await tokens.sign(42);
    expect(await tokens.verify(token)).toBe(42);
    const [, payload] = token.split('.');
    const claims = JSON.parse(Buffer.from(payload!, 'base64url').toString());
    expect(claims.sub).toBe('42');
    expect(claims.exp - claims.iat).toBe(60);
  });

  it('refuse other keys, other algorithms, expired and malformed tokens', async () => {
    const tokens = createTokens({ secret: SECRET, ttlSeconds: 60 });
    const key = new TextEncoder().encode(SECRET);
    const now = Math.floor(Date.now() / 1000);
    const expired = await new SignJWT({}).setProtectedHeader({ alg: 'HS256' }).setSubject('1').setExpirationTime(now - 10).sign(key);
    await expect(tokens.verify(expired)).rejects.toMatchObject({ reason: 'expired' });
    const hs512 = await new SignJWT({}).setProtectedHeader({ alg: 'HS512' }).setSubject('1').setExpirationTime(now + 60)
      .sign(new TextEncoder().encode(SECRET.repeat(2)));
    const otherKey = await createTokens({ secret: 'b'.repeat(32), ttlSeconds: 60 }).sign(1);
    for (const bad of [hs512, otherKey, 'not.a.token', '', 'a.b']) {
      await expect(tokens.verify(bad)).rejects.toBeInstanceOf(InvalidTokenError);
    }
  });

  it('need a secret of at least 32 bytes and a positive lifetime', () => {
    expect(() => createTokens({ secret: 'short', ttlSeconds: 60 })).toThrow(/at least 32 bytes, got 5/);
    expect(() => createTokens({ secret: SECRET, ttlSeconds: 0 })).toThrow(/positive number of seconds, got 0/);
  });
});

describe('AUTH_SECRET', () => {
  it('is required in production, optional elsewhere, and at least 32 bytes', () => {
    expect(() => readConfig({ NODE_ENV: 'production' })).toThrow(/AUTH_SECRET is required when NODE_ENV=production/);
    expect(readConfig({ NODE_ENV: 'production', AUTH_SECRET: SECRET }).authSecret).toBe(SECRET);
    expect(readConfig({ NODE_ENV: 'test' }).authSecret).toBeUndefined();
    expect(() => readConfig({ AUTH_SECRET: 'too short' })).toThrow(/at least 32 bytes, got 9/);
    expect(readConfig({ AUTH_TOKEN_TTL_SECONDS: '120' }).authTokenTtlSeconds).toBe(120);
  });
});
