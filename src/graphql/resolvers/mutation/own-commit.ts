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
export async function withOwnCommits<T>(
  { writeThrough }: Pick<GraphQLContext, 'writeThrough'>, evictions: Evictions,
  write: (register: (event: ChangeEvent) => boolean) => Promise<T>,
): Promise<T> {
  const ownCommits = writeThrough?.ownCommits.listening() ? writeThrough.ownCommits : null;
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
