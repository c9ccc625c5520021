/**
 * Opaque global ids: base64url of `<Type>:<id>`, unique across types so that `node(id:)` can tell
 * what to load. Clients never build them; the server refuses anything it did not make.
 */
export type NodeType = 'Author' | 'Book' | 'Review';
const NODE_TYPES: ReadonlySet<string> = new Set<NodeType>(['Author', 'Book', 'Review']);
/** Types with global ids that are not Nodes: `node(id:)` and parseGlobalId refuse them. */
export type PrivateIdType = 'Account';

export function toGlobalId(type: NodeType | PrivateIdType, id: number): string {
  return Buffer.from(`${type}:${id}`).toString('base64url');
}

/** The type and database id of a global id; null for anything malformed or unknown. */
export function parseGlobalId(globalId: string): { type: NodeType; id: number } | null {
  if (globalId.length === 0 || globalId.length > 64 || !/^[A-Za-z0-9_-]+$/.test(globalId)) return null;
  const match = /^([A-Za-z]+):([1-9][0-9]{0,15})$/.exec(Buffer.from(globalId, 'base64url').toString('utf8'));
  if (!match || !NODE_TYPES.has(match[1]!)) return null;
  const id = Number(match[2]);
  return Number.isSafeInteger(id) ? { type: match[1] as NodeType, id } : null;
}

/** The database id of a global id of `type`, or null (malformed, or an id of another type). */
export function parseIdOf(type: NodeType, globalId: string): number | null {
  const parsed = parseGlobalId(globalId);
  return parsed && parsed.type === type ? parsed.id : null;
}
