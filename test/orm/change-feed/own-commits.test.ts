import { createOwnCommits } from '../../../src/orm/change-feed/own-commits.ts';
import type { ChangeEvent } from '../../../src/orm/change-feed/change-events.ts';

const review = (id: number, rating: number) => ({ id, book_id: 7, rating });
const inserted = (id: number, rating = 4): ChangeEvent => ({ table: 'review', old: null, new: review(id, rating) });
const updated = (id: number, from: number, to: number): ChangeEvent => ({ table: 'review', old: review(id, from), new: review(id, to) });
const deleted = (id: number, rating = 4): ChangeEvent => ({ table: 'review', old: review(id, rating), new: null });

function listening() {
  const commits = createOwnCommits();
  commits.setListening(true);
  return commits;
}

describe('own commits: the change feed skips a notification only for a change this process invalidated itself', () => {
  it('skips the insert, update or delete it registered once its invalidation reached the store', async () => {
    const commits = listening();
    for (const event of [inserted(1), updated(2, 3, 5), deleted(3)]) {
      commits.expect(event).settle(true);
      expect(await commits.covers(event)).toBe(true);
    }
    expect(commits.size()).toBe(0);
  });

  it('invalidates when the first notification about the row is another change (and forgets the record)', async () => {
    const commits = listening();
    commits.expect(inserted(1)).settle(true);
    expect(await commits.covers(updated(1, 4, 2))).toBe(false); // not our insert
    expect(await commits.covers(inserted(1))).toBe(false); // the record went with the first notification
    commits.expect(deleted(2)).settle(true);
    expect(await commits.covers(inserted(2))).toBe(false); // an insert is not a delete
    commits.expect(updated(3, 1, 2)).settle(true);
    expect(await commits.covers(updated(3, 1, 5))).toBe(false); // other values
    expect(commits.size()).toBe(0);
  });

  it('invalidates a change whose own invalidation failed, and records nothing while not listening', async () => {
    const commits = listening();
    commits.expect(inserted(1)).settle(false);
    expect(await commits.covers(inserted(1))).toBe(false);
    const pending = commits.expect(inserted(2));
    commits.setListening(false); // a gap: notifications may be lost, every record goes
    pending.settle(true);
    expect(await commits.covers(inserted(2))).toBe(false);
    commits.expect(inserted(3)).settle(true);
    expect([commits.size(), await commits.covers(inserted(3))]).toEqual([0, false]);
  });
});
