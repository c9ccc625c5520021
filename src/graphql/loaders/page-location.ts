import type { Keyspace } from '../../cache/keyspace.ts';
import type { CacheLocation } from '../../cache/read-through-loader.ts';
import { families, type BookOrderField } from '../../catalog/families.ts';
import type { PageSpec } from '../../catalog/page.ts';
import { encodeCursor } from '../connections/cursor.ts';

/** Which family a page belongs to: the rule that decides what a write must invalidate. */
export function familyOf(spec: PageSpec): string {
  switch (spec.table) {
    case 'book': {
      const field = spec.sort.name.split('.')[1] as BookOrderField;
      return spec.partition ? families.authorBooks(spec.partition.value, field) : families.books(field);
    }
    case 'review':
      return families.bookReviews(spec.partition!.value);
    case 'author':
      return families.authors();
    case 'favorite':
      return families.accountFavorites(spec.partition!.value);
  }
}

/** Page key variant: everything about the page that is not its family. */
export function pageVariant(spec: PageSpec): string {
  const after = spec.after ? encodeCursor(spec.sort.name, spec.after.value, spec.after.id) : '-';
  return `${spec.sort.direction}.${spec.first}.${after}`;
}

export function pageLocation(keyspace: Keyspace, spec: PageSpec): CacheLocation {
  const family = familyOf(spec);
  const variant = pageVariant(spec);
  return { cacheKey: keyspace.page(family, variant), generationKey: keyspace.generation(family), leaseKey: keyspace.pageLease(family, variant) };
}
