import type { IncomingMessage } from 'node:http';
import { HeaderMap } from '@apollo/server';
import type { AccountRow } from '../catalog/rows.ts';
import { InvalidTokenError, type Tokens } from '../auth/tokens.ts';
import type { Viewer } from '../graphql/context.ts';
import { unauthenticated } from '../graphql/errors.ts';

const BEARER = /^Bearer +([A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+) *$/i;

/**
 * The request's viewer, from its `Authorization: Bearer <token>` header; null without the header.
 * A header that is present but malformed, or a token that is invalid or expired, fails the whole
 * request with UNAUTHENTICATED and HTTP 401 (thrown from Apollo's context function: nothing runs,
 * nothing is read or cached). It never degrades to anonymous: a client that believes it is signed
 * in must learn that it is not, rather than silently get public answers.
 */
export async function authenticate(
  req: IncomingMessage, tokens: Tokens, loadAccount: (id: number) => Promise<AccountRow | null>,
  /** What verifiedAccountId already answered for this request (a valid token's account, or none). */
  verified?: number | null,
): Promise<Viewer | null> {
  if (verified !== undefined) return verified === null ? null : { accountId: verified, account: () => loadAccount(verified) };
  const header = req.headers.authorization;
  if (header === undefined) return null;
  const match = BEARER.exec(header);
  if (!match) throw rejected('The Authorization header must be "Bearer <token>"', 'invalid_request');
  let accountId: number;
  try {
    accountId = await tokens.verify(match[1]!);
  } catch (error) {
    if (error instanceof InvalidTokenError) throw rejected(error.message, 'invalid_token');
    throw error;
  }
  return { accountId, account: () => loadAccount(accountId) };
}

/**
 * The account id of the request's valid bearer token, null without an Authorization header, and
 * undefined when the header or token is bad (authenticate() then refuses the request).
 */
export async function verifiedAccountId(req: IncomingMessage, tokens: Tokens): Promise<number | null | undefined> {
  const header = req.headers.authorization;
  if (header === undefined) return null;
  const match = BEARER.exec(header);
  return match ? tokens.verify(match[1]!).catch(() => undefined) : undefined;
}

function rejected(message: string, error: 'invalid_request' | 'invalid_token') {
  // RFC 6750 §3: a 401 names the scheme and why the credentials were refused.
  // Sent before any plugin runs: the cache-control plugins never see it, so it says no-store itself.
  const headers = new HeaderMap([['www-authenticate', `Bearer error="${error}"`], ['cache-control', 'no-store']]);
  return unauthenticated(message, { status: 401, headers });
}
