import { UniqueConstraintViolationException } from '@mikro-orm/core';
import { DECOY_HASH, hashPassword, verifyPassword } from '../../../auth/password.ts';
import type { AccountRow } from '../../../catalog/rows.ts';
import { Account } from '../../../orm/entities/index.ts';
import type { GraphQLContext } from '../../context.ts';
import { badUserInput, conflict, unauthenticated } from '../../errors.ts';
import type { MutationResolvers } from '../../generated/resolvers-types.ts';

const EMAIL = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;
export const PASSWORD_LENGTH = [8, 1024] as const;

/** Lower-cased and trimmed; BAD_USER_INPUT unless it looks like an address (RFC 5321's 254 at most). */
function email(value: string): string {
  const normalized = value.trim().toLowerCase();
  if (normalized.length > 254 || normalized.includes('\u0000') || !EMAIL.test(normalized)) {
    throw badUserInput(`"email" must be an email address, got ${JSON.stringify(value.slice(0, 80))}`, 'email');
  }
  return normalized;
}

function password(value: string): string {
  const [min, max] = PASSWORD_LENGTH;
  if (value.length < min || value.length > max) {
    throw badUserInput(`"password" must be from ${min} to ${max} characters, got ${value.length}`, 'password');
  }
  return value;
}

async function authPayload(ctx: GraphQLContext, account: AccountRow) {
  if (!ctx.tokens) throw new Error('this server issues no tokens (no Tokens in the GraphQL context)');
  return { token: await ctx.tokens.sign(account.id), account };
}

/**
 * Accounts write no cached data: a new account has no favorites, and an account row is never
 * cached. So these mutations name no evictions.
 */
export const accountMutations: Pick<MutationResolvers, 'signUp' | 'logIn'> = {
  async signUp(_, args, ctx) {
    const data = { email: email(args.email), passwordHash: await hashPassword(password(args.password)) };
    let account: AccountRow;
    try {
      account = await ctx.em.transactional(async (tx) => {
        const row = tx.create(Account, data);
        await tx.flush();
        return { id: row.id, email: row.email };
      });
    } catch (error) {
      if (error instanceof UniqueConstraintViolationException) throw conflict(`An account with email ${JSON.stringify(data.email)} already exists`, 'email');
      throw error;
    }
    return authPayload(ctx, account);
  },

  async logIn(_, args, ctx) {
    const normalized = args.email.trim().toLowerCase();
    const found = normalized.includes('\u0000') ? null : await ctx.em.findOne(Account, { email: normalized });
    // An unknown email still costs one scrypt: both failures take as long and read the same.
    const matches = await verifyPassword(args.password, found?.passwordHash ?? DECOY_HASH);
    if (!found || !matches) throw unauthenticated('Wrong email or password');
    return authPayload(ctx, { id: found.id, email: found.email });
  },
};
