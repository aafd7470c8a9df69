// Keyset pagination for newest-first listings: a cursor is the (created_at, id) of the last row
// served, so pages stay stable while new rows arrive and rows with equal timestamps are not lost.
import { InvalidCursorError } from './errors.js';

export interface CursorPosition {
  created_at: number;
  id: string;
}

export const MAX_PAGE = 1000;

export function encodeCursor(pos: CursorPosition): string {
  return Buffer.from(JSON.stringify([pos.created_at, pos.id]), 'utf8').toString('base64url');
}

export function decodeCursor(cursor: string): CursorPosition {
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    throw new InvalidCursorError();
  }
  if (
    !Array.isArray(parsed) ||
    parsed.length !== 2 ||
    !Number.isSafeInteger(parsed[0]) ||
    typeof parsed[1] !== 'string'
  ) {
    throw new InvalidCursorError();
  }
  return { created_at: parsed[0] as number, id: parsed[1] };
}

/** Page sizes outside 1..1000 are clamped rather than refused: the HTTP layer validates input. */
export function clampLimit(limit: number): number {
  if (!Number.isFinite(limit)) return MAX_PAGE;
  return Math.min(MAX_PAGE, Math.max(1, Math.floor(limit)));
}

/** Rows were fetched with limit + 1 so the extra one tells whether another page exists. */
export function toPage<T>(rows: T[], limit: number, position: (row: T) => CursorPosition) {
  const more = rows.length > limit;
  const pageRows = more ? rows.slice(0, limit) : rows;
  const last = pageRows[pageRows.length - 1];
  return {
    rows: pageRows,
    next_cursor: more && last !== undefined ? encodeCursor(position(last)) : undefined,
  };
}
