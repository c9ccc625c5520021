import type { Evictions } from '../../../cache/evictions.ts';
import type { ChangeEvent } from '../../../orm/change-feed/change-events.ts';
import type { OwnCommit } from '../../../orm/change-feed/own-commits.ts';
import type { GraphQLContext } from '../../context.ts';

/**
 * Runs a mutation's transaction so that the change feed does not invalidate its row changes a
 * second time (own-commits.ts): `write` calls `register` for each row change before its COMMIT
 * (after the flush, inside the transaction); each record is settled with the outcome of the unit
 * of work's invalidation (`evictions`, applied after `write` returns), or dropped if `write` fails
 * — then the feed invalidates as always. `register` answers whether the change was recorded
 * (false while the feed is not listening, or without a feed): only then may the writer fill what it
 * committed into its own invalidation (EntityEviction.fill), which the feed would otherwise delete.
 */
/**
 * The context's write-through while the change feed recognises this process's commits (listening),
 * else null: only then may a mutation fill what it commits (GraphQLContext.writeThrough).
 */
export function writingThrough({ writeThrough }: Pick<GraphQLContext, 'writeThrough'>): NonNullable<GraphQLContext['writeThrough']> | null {
  return writeThrough?.ownCommits.listening() ? writeThrough : null;
}

export async function withOwnCommits<T>(
  context: Pick<GraphQLContext, 'writeThrough'>, evictions: Evictions,
  write: (register: (event: ChangeEvent) => boolean) => Promise<T>,
): Promise<T> {
  const ownCommits = writingThrough(context)?.ownCommits ?? null;
  const commits: OwnCommit[] = [];
  try {
    const result = await write((event) => {
      if (!ownCommits) return false;
      commits.push(ownCommits.expect(event));
      return true;
    });
    if (commits.length > 0) evictions.whenApplied((invalidated) => { for (const commit of commits) commit.settle(invalidated); });
    return result;
  } catch (error) {
    for (const commit of commits) commit.settle(false); // not committed, or not invalidated by us: the feed does it
    throw error;
  }
}
