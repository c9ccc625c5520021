import type DataLoader from 'dataloader';
import type { Page, SortValue } from '../../catalog/page.ts';

export interface Edge<T> {
  readonly cursor: string;
  readonly node: T;
}

/** What a connection field resolves to; BookConnection & co. resolve their fields from it. */
export interface Connection<T> {
  readonly page: Page;
  readonly hasPrevious: boolean;
  /** The cursor of the page's i-th row, or null outside the page. */
  cursorAt(index: number): string | null;
  /** Resolves the page's nodes through the entity loader (one batched lookup for all of them). */
  edges(): Promise<Edge<T>[]>;
}

export function createConnection<T>(
  page: Page,
  options: { hasPrevious: boolean; cursor: (id: number, sortValue: SortValue) => string; nodes: DataLoader<number, T | null, string> },
): Connection<T> {
  let edges: Promise<Edge<T>[]> | undefined;
  return {
    page,
    hasPrevious: options.hasPrevious,
    cursorAt: (i) => (i >= 0 && i < page.ids.length ? options.cursor(page.ids[i]!, page.sortValues[i] ?? null) : null),
    edges() {
      edges ??= options.nodes.loadMany(page.ids).then((nodes) =>
        nodes.flatMap((node, i) => {
          if (node instanceof Error) throw node;
          // A row deleted between the page read and this one is skipped rather than failing the
          // non-null edge: the page is already invalidated and the next read will not list it.
          if (node === null) return [];
          return [{ cursor: options.cursor(page.ids[i]!, page.sortValues[i] ?? null), node }];
        }),
      );
      return edges;
    },
  };
}
