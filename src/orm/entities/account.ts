import { defineEntity, p, type InferEntity } from '@mikro-orm/core';

/** A viewer's account. `email` is stored lower-cased, so the unique index is case-insensitive. */
export const Account = defineEntity({
  name: 'Account',
  tableName: 'account',
  properties: {
    id: p.integer().primary().autoincrement(),
    email: p.string().unique(),
    // `scrypt$N$r$p$salt$hash` (see src/server/auth/password.ts): never leaves the server.
    passwordHash: p.string(),
    createdAt: p.datetime().defaultRaw('current_timestamp').onCreate(() => new Date()),
  },
});

export type IAccount = InferEntity<typeof Account>;
