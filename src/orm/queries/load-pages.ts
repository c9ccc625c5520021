import type { SqlEntityManager } from '@mikro-orm/sql';
import type { Page, PageSpec } from '../../catalog/page.ts';
import type { SqlRow } from '../../catalog/rows.ts';

/** A loaded page together with the full rows it lists, so callers can fill entity caches too. */
export interface LoadedPage {
  readonly page: Page;
  readonly rows: readonly SqlRow[];
}

/**
 * Loads many pages with as few statements as possible: pages of the same list shape (table,
 * partition column, order) that name distinct parents share one statement, ranked per parent with
 * ROW_NUMBER(); the totalCount comes from a scalar subquery in the same statement. Keyset
 * pagination throughout: `(sort, id) > (after.value, after.id)`, never OFFSET.
 */
export async function loadPages(em: SqlEntityManager, specs: readonly PageSpec[], knownTotals: readonly (number | undefined)[] = []): Promise<LoadedPage[]> {
  const results: LoadedPage[] = new Array(specs.length);
  for (const group of groupByShape(specs)) {
    // Whole-table pages are alone in their group; a known total spares its COUNT(*).
    const known = group.length === 1 && specs[group[0]!]!.partition === null ? knownTotals[group[0]!] : undefined;
    const loaded = await loadGroup(em, group.map((i) => specs[i]!), known);
    group.forEach((specIndex, j) => { results[specIndex] = loaded[j]!; });
  }
  return results;
}

/** Groups spec indexes: same shape, and each parent at most once per group. */
function groupByShape(specs: readonly PageSpec[]): number[][] {
  const groups: { shape: string; parents: Set<number | null>; members: number[] }[] = [];
  specs.forEach((spec, i) => {
    const shape = [spec.table, spec.partition?.column ?? '', spec.sort.expression, spec.sort.direction].join('|');
    const parent = spec.partition?.value ?? null;
    // The whole-table list has no parent to rank by: each such page gets its own statement.
    let group = parent === null ? undefined : groups.find((g) => g.shape === shape && !g.parents.has(parent));
    if (!group) groups.push((group = { shape, parents: new Set(), members: [] }));
    group.parents.add(parent);
    group.members.push(i);
  });
  return groups.map((g) => g.members);
}

async function loadGroup(em: SqlEntityManager, specs: readonly PageSpec[], knownTotal?: number): Promise<LoadedPage[]> {
  const { table, partition, sort } = specs[0]!;
  const op = sort.direction === 'ASC' ? '>' : '<';
  const order = `${sort.expression} ${sort.direction}, id ${sort.direction}`;
  const keyset = (spec: PageSpec, params: unknown[]) => {
    if (!spec.after) return '';
    params.push(spec.after.value, spec.after.id);
    return ` AND (${sort.expression}, id) ${op} (?, ?)`;
  };
  const limit = Math.max(...specs.map((s) => s.first)) + 1; // one extra row tells hasNextPage

  const params: unknown[] = [];
  let sql: string;
  if (!partition) {
    const spec = specs[0]!;
    const where = keyset(spec, params).replace(/^ AND /, 'WHERE ');
    const total = knownTotal === undefined ? `(SELECT COUNT(*) FROM ${table})` : String(Math.trunc(knownTotal));
    sql = `SELECT *, ${sort.expression} AS _sort, ${total} AS _total
           FROM ${table} ${where} ORDER BY ${order} LIMIT ${limit}`;
  } else if (table === 'favorite') {
    // An account's favorites list books, newest favorite first: the rows are the books (their ids
    // are the page's ids), ranked by the favorite's id, which is also the cursor's sort value.
    const filters = specs.map((spec) => {
      params.push(spec.partition!.value);
      if (!spec.after) return '(f.account_id = ?)';
      params.push(spec.after.value, spec.after.id);
      return `(f.account_id = ? AND (f.id, f.book_id) ${op} (?, ?))`;
    });
    sql = `SELECT t.*, (SELECT COUNT(*) FROM favorite c WHERE c.account_id = t.account_id) AS _total
           FROM (SELECT b.*, f.account_id, f.id AS _sort,
                        ROW_NUMBER() OVER (PARTITION BY f.account_id ORDER BY f.id ${sort.direction}, f.book_id ${sort.direction}) AS _rn
                 FROM favorite f JOIN book b ON b.id = f.book_id WHERE ${filters.join(' OR ')}) t
           WHERE t._rn <= ${limit} ORDER BY t.account_id, t._rn`;
  } else if (specs.length === 1) {
    // One parent: a plain keyset scan with LIMIT (the (parent, id) index serves it in order) and
    // an uncorrelated count, evaluated once — the ranked form below numbers every row of the
    // parent and counts them again for each row it returns.
    const spec = specs[0]!;
    params.push(spec.partition!.value, spec.partition!.value);
    const where = `${partition.column} = ?${keyset(spec, params)}`;
    sql = `SELECT *, ${sort.expression} AS _sort, (SELECT COUNT(*) FROM ${table} WHERE ${partition.column} = ?) AS _total
           FROM ${table} WHERE ${where} ORDER BY ${order} LIMIT ${limit}`;
  } else {
    const column = partition.column;
    const filters = specs.map((spec) => {
      params.push(spec.partition!.value);
      return `(${column} = ?${keyset(spec, params)})`;
    });
    sql = `SELECT t.*, (SELECT COUNT(*) FROM ${table} c WHERE c.${column} = t.${column}) AS _total
           FROM (SELECT *, ${sort.expression} AS _sort,
                        ROW_NUMBER() OVER (PARTITION BY ${column} ORDER BY ${order}) AS _rn
                 FROM ${table} WHERE ${filters.join(' OR ')}) t
           WHERE t._rn <= ${limit} ORDER BY t.${column}, t._rn`;
  }
  const rows = await em.execute<SqlRow[]>(sql, params);

  const byParent = new Map<number | null, SqlRow[]>();
  for (const row of rows) {
    const parent = partition ? Number(row[partition.column]) : null;
    let list = byParent.get(parent);
    if (!list) byParent.set(parent, (list = []));
    list.push(row);
  }
  const pages: LoadedPage[] = [];
  for (const spec of specs) {
    const all = byParent.get(spec.partition?.value ?? null) ?? [];
    const listed = all.slice(0, spec.first);
    // With no row to carry it, totalCount is 0 unless rows may lie before the cursor.
    const total = knownTotal ?? (all.length > 0 ? Number(all[0]!._total) : spec.after ? await countRows(em, spec) : 0);
    pages.push({
      rows: listed,
      page: {
        ids: listed.map((r) => Number(r.id)),
        sortValues: listed.map((r) => normalizeSort(r._sort)),
        total,
        hasNext: all.length > spec.first,
        ...(all.length > spec.first ? { nextSortValue: normalizeSort(all[spec.first]!._sort) } : {}),
      },
    });
  }
  return pages;
}

async function countRows(em: SqlEntityManager, spec: PageSpec): Promise<number> {
  const where = spec.partition ? `WHERE ${spec.partition.column} = ?` : '';
  const [row] = await em.execute<{ n: unknown }[]>(
    `SELECT COUNT(*) AS n FROM ${spec.table} ${where}`,
    spec.partition ? [spec.partition.value] : [],
  );
  return Number(row?.n ?? 0);
}

function normalizeSort(value: unknown): string | number | null {
  if (value === null || value === undefined) return null;
  if (typeof value === 'number' || typeof value === 'string') return value;
  if (typeof value === 'bigint') return Number(value);
  return String(value);
}
