import { UniqueConstraintViolationException } from '@mikro-orm/core';
import { badUserInput, conflict, notFound } from '../../errors.ts';
import { parseIdOf, type NodeType } from '../../global-id.ts';

/**
 * Input checks shared by the mutations. Everything is validated before the first statement is
 * sent, so bad input writes nothing and evicts nothing.
 */
export function text(value: string, field: string, max: number): string {
  const trimmed = value.trim();
  if (trimmed.length === 0) throw badUserInput(`"${field}" must not be empty`, field);
  // Neither database takes U+0000: PostgreSQL cannot store it in text, and SQLite stops reading
  // the statement at it (MikroORM inlines parameters). Unchecked, it was an INTERNAL_SERVER_ERROR.
  if (trimmed.includes('\u0000')) throw badUserInput(`"${field}" must not contain NUL characters`, field);
  if (trimmed.length > max) throw badUserInput(`"${field}" must be at most ${max} characters, got ${trimmed.length}`, field);
  return trimmed;
}

export function optionalText(value: string | null | undefined, field: string, max: number): string | null {
  return value === null || value === undefined || value.trim() === '' ? null : text(value, field, max);
}

export function integer(value: number, field: string, min: number, max: number): number {
  if (!Number.isInteger(value) || value < min || value > max) {
    throw badUserInput(`"${field}" must be an integer from ${min} to ${max}, got ${value}`, field);
  }
  return value;
}

/** The database id behind a global id given to a mutation; NOT_FOUND when it names nothing of `type`. */
export function idOf(type: NodeType, globalId: string, field = 'id'): number {
  const id = parseIdOf(type, globalId);
  if (id === null) throw notFound(`No ${type.toLowerCase()} with ${field} ${JSON.stringify(globalId.slice(0, 80))}`);
  return id;
}

export function missing(type: NodeType, globalId: string): never {
  throw notFound(`No ${type.toLowerCase()} with id ${JSON.stringify(globalId.slice(0, 80))}`);
}

/** Turns the database's unique-isbn violation into a CONFLICT error; the transaction has rolled back. */
export async function uniqueIsbn<T>(isbn: string | null | undefined, write: () => Promise<T>): Promise<T> {
  try {
    return await write();
  } catch (error) {
    if (error instanceof UniqueConstraintViolationException) {
      throw conflict(`A book with isbn ${JSON.stringify(isbn)} already exists`, 'isbn');
    }
    throw error;
  }
}

/**
 * Lengths are checked in UTF-16 code units, never fewer than the database's characters. `title`
 * must fit PostgreSQL's varchar(255) column (see the initial migration): a longer one failed the
 * INSERT with INTERNAL_SERVER_ERROR there, and was stored on SQLite, whose text has no limit.
 */
export const LIMITS = {
  name: 200,
  bio: 10_000,
  title: 255,
  isbn: 32,
  body: 10_000,
  priceCents: [0, 1_000_000_000],
  publishedYear: [-9999, 9999],
  rating: [1, 5],
} as const;
