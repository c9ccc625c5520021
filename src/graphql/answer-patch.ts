import {
  defaultFieldResolver, getNullableType, isLeafType, isObjectType, responsePathAsArray,
  type GraphQLFieldResolver, type GraphQLLeafType, type GraphQLSchema, type ResponsePath,
} from 'graphql';

/**
 * Patching an answer instead of executing its operation again.
 *
 * A stored answer goes stale when anything it was built from changes. When all that changed is
 * some entity rows (their tombstones moved; no list generation, no range bucket), the new answer
 * has the same shape as the old one, and differs only where those rows' fields were written into
 * it. So while an answer is built, every field resolved on an entity row outside a list is
 * recorded: where it went in the answer (its response path), and what it read of the row (the
 * property values, seen through a Proxy; the default resolver reads exactly its column). To patch,
 * the changed rows are read again; then for every recorded field of a changed row:
 *   - it read nothing that changed: its value is what it was (whatever else it read — loaders,
 *     other rows — has its own dependencies, which are unchanged, or the answer would not qualify);
 *   - it is a column (the default resolver) of a leaf type: its new value is the new row's column,
 *     serialized by the field's type, as execution would;
 *   - otherwise (a resolver of its own read a changed column: a relation whose foreign key
 *     moved, a computed field) the patch is refused and the operation runs.
 * The patched answer is what executing the operation now would answer: the same fields, the
 * same order, the same serialization (Apollo's: JSON.stringify plus a newline).
 */

/** One field resolved on an entity row, as recorded while the answer was built. */
export interface FieldUse {
  /** The entity, `<Type>:<id>` (the types' loaders' names and the rows' ids). */
  readonly entity: string;
  /** Where the value is in the answer's `data`: graphql-js's path (response keys and list indexes). */
  readonly path: ResponsePath;
  /** The default resolver's column; null for a resolver of its own. */
  readonly column: string | null;
  /** The field's type when it is a (nullable or not) leaf: a column's new value is serialized by it. */
  readonly leaf: GraphQLLeafType | null;
  readonly nonNull: boolean;
  /** A column's value then; for a resolver of its own, what it read of the row and the values then. */
  readonly value: unknown;
  readonly reads: Map<string, unknown> | null;
}

/**
 * What an answer's build recorded: the fields resolved on rows outside lists, in resolution order,
 * and the entity types that had rows inside a list. Those rows are not recorded — a page holds
 * many, and recording each cost every page build more than patching pages saved (their rows
 * change rarely alone: a price write moves range buckets) — so a change to a row of such a type
 * is not patched: it may appear in the list too.
 */
export interface EntityUses {
  readonly uses: readonly FieldUse[];
  readonly listed: ReadonlySet<string>;
}

/** A request's recording (ResponseCachePlan.patch). */
export interface PatchRecorder extends EntityUses {
  readonly uses: FieldUse[];
  readonly listed: Set<string>;
}

export const createPatchRecorder = (): PatchRecorder => ({ uses: [], listed: new Set() });

export const entityName = (type: string, id: number | string): string => `${type}:${id}`;

/**
 * Wraps every field resolver of the entity `types` so that, while `recorderOf()` answers a
 * recorder (a request whose answer may be stored) and the operation is a query, each resolution
 * is recorded (see above) — one small object per field, the path kept as graphql-js built it.
 * Mutates the schema's resolvers in place; any other resolution pays one call.
 */
export function recordEntityFields(schema: GraphQLSchema, types: readonly string[], recorderOf: () => PatchRecorder | undefined): GraphQLSchema {
  for (const typeName of types) {
    const type = schema.getType(typeName);
    if (!isObjectType(type)) throw new Error(`recordEntityFields: ${typeName} is not an object type of the schema`);
    for (const field of Object.values(type.getFields())) {
      const own = field.resolve;
      const resolve: GraphQLFieldResolver<any, any> = own ?? defaultFieldResolver;
      const nullable = getNullableType(field.type);
      const leaf = isLeafType(nullable) ? nullable : null;
      const nonNull = nullable !== field.type;
      const column = own ? null : field.name;
      field.resolve = (row, args, context, info) => {
        const recorder = info.operation.operation === 'query' ? recorderOf() : undefined;
        if (!recorder || typeof row?.id !== 'number') return resolve(row, args, context, info);
        if (inList(info.path)) {
          recorder.listed.add(typeName);
          return resolve(row, args, context, info);
        }
        const entity = entityName(typeName, row.id);
        if (column !== null) {
          recorder.uses.push({ entity, path: info.path, column, leaf, nonNull, value: row[column], reads: null });
          return resolve(row, args, context, info);
        }
        const reads = new Map<string, unknown>();
        recorder.uses.push({ entity, path: info.path, column, leaf, nonNull, value: undefined, reads });
        return resolve(watch(row, reads), args, context, info);
      };
    }
  }
  return schema;
}

/** Whether a field's value lies inside a list (an index on its path). */
function inList(path: ResponsePath): boolean {
  for (let at = path.prev; at; at = at.prev) if (typeof at.key === 'number') return true;
  return false;
}

/** The row, recording every property read into `reads` (also after an await: the Proxy is this resolution's own). */
function watch(row: object, reads: Map<string, unknown>): object {
  return new Proxy(row, {
    get(target, property, receiver) {
      const value = Reflect.get(target, property, receiver);
      if (typeof property === 'string') reads.set(property, value);
      return value;
    },
    has(target, property) {
      if (typeof property === 'string') reads.set(property, Reflect.get(target, property));
      return Reflect.has(target, property);
    },
  });
}

/** Whether a value read then is the value read now (rows hold primitives, dates and null). */
function same(then: unknown, now: unknown): boolean {
  if (Object.is(then, now)) return true;
  return then instanceof Date && now instanceof Date && then.getTime() === now.getTime();
}

/**
 * Whether a patch of these changed entities may apply, decided before their rows are read: none
 * of their types had rows in a list, and each has a recorded field.
 */
export function mayPatch(recorded: EntityUses, entities: readonly { readonly type: string; readonly id: string }[]): boolean {
  const names = new Set(entities.map(({ type, id }) => entityName(type, id)));
  if (entities.some(({ type }) => recorded.listed.has(type))) return false;
  for (const use of recorded.uses) names.delete(use.entity);
  return names.size === 0;
}

/**
 * The answer with the changed rows' fields recomputed, and the uses to record for it; null when
 * it cannot be patched (a row is gone, a field of its own read a changed column, a changed row
 * has no recorded use, the body is not a plain `{"data": …}` answer).
 */
export function patchAnswer(
  body: string, recorded: EntityUses, rows: ReadonlyMap<string, Record<string, unknown> | null>,
): { body: string; recorded: EntityUses } | null {
  for (const [entity, row] of rows) if (!row || recorded.listed.has(entity.slice(0, entity.indexOf(':')))) return null;
  let answer: { data?: unknown; errors?: unknown };
  try {
    answer = JSON.parse(body);
  } catch {
    return null;
  }
  if (answer === null || typeof answer !== 'object' || answer.errors !== undefined || answer.data == null) return null;
  const seen = new Set<string>();
  const next: FieldUse[] = [];
  for (const use of recorded.uses) {
    const row = rows.get(use.entity);
    if (!row) {
      next.push(use);
      continue;
    }
    seen.add(use.entity);
    if (use.reads) {
      // A resolver of its own: its value stands only if nothing it read of the row changed.
      for (const [property, value] of use.reads) if (!same(value, row[property])) return null;
      next.push(use);
      continue;
    }
    const value = row[use.column!];
    if (same(use.value, value)) {
      next.push(use);
      continue;
    }
    if (use.leaf === null || (value == null && use.nonNull)) return null; // execution would answer an error
    if (!setAt(answer.data, responsePathAsArray(use.path), value == null ? null : use.leaf.serialize(value))) return null;
    next.push({ ...use, value });
  }
  if (seen.size !== rows.size) return null; // a changed row the answer shows nowhere a field of it was recorded
  return { body: `${JSON.stringify(answer)}\n`, recorded: { uses: next, listed: recorded.listed } };
}

/** Sets the value at `path` in `data`; false when the path does not lead to a field of an object. */
function setAt(data: unknown, path: readonly (string | number)[], value: unknown): boolean {
  let node = data as Record<string | number, unknown> | null;
  for (let i = 0; i < path.length - 1; i++) {
    node = node?.[path[i]!] as Record<string | number, unknown> | null;
    if (node === null || typeof node !== 'object') return false;
  }
  const last = path.at(-1);
  if (node === null || typeof node !== 'object' || last === undefined || !(last in node)) return false;
  node[last] = value;
  return true;
}
