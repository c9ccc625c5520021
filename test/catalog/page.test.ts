import { withNewHead, type Page } from '../../src/catalog/page.ts';

const page = (ids: number[], total: number, hasNext: boolean, nextSortValue?: number): Page =>
  ({ ids, sortValues: ids, total, hasNext, ...(nextSortValue === undefined ? {} : { nextSortValue }) });

describe('withNewHead: a descending head page after a row with a larger id joined the list', () => {
  it('puts the row first and pushes the last one past the page, which then has a next row', () => {
    expect(withNewHead(page([9, 7, 5], 3, false), 12, 3)).toEqual(page([12, 9, 7], 4, true, 5));
    expect(withNewHead(page([9, 7, 5], 8, true, 4), 12, 3)).toEqual(page([12, 9, 7], 9, true, 5));
  });

  it('grows a page that was not full, and starts an empty list', () => {
    expect(withNewHead(page([9, 7], 2, false), 12, 3)).toEqual(page([12, 9, 7], 3, false));
    expect(withNewHead(page([], 0, false), 1, 5)).toEqual(page([1], 1, false));
  });

  it('refuses a row that is not the newest, or a page longer than its size', () => {
    expect(withNewHead(page([9, 7], 2, false), 9, 3)).toBeNull();
    expect(withNewHead(page([9, 7], 2, false), 8, 3)).toBeNull();
    expect(withNewHead(page([9, 7, 5, 3], 4, false), 12, 3)).toBeNull();
  });
});
