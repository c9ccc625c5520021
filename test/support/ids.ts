/**
 * The server's global id for a row of the test fixture. Clients never build ids; tests do so only
 * to name fixture rows (and unknown ids) without a lookup query first.
 */
export const gid = (type: 'Author' | 'Book' | 'Review', id: number): string => Buffer.from(`${type}:${id}`).toString('base64url');
