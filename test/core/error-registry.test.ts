// SPEC §12: the error registry declares exactly the codes of SPEC's table, each with the
// table's status and type, and every code builds the same envelope through GatewayError.
import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ERROR_REGISTRY, type ErrorCode } from '../../src/core/error-registry.js';
import { GatewayError } from '../../src/core/errors.js';

const REPO_ROOT = resolve(import.meta.dirname, '../..');
const SPEC_PATH = resolve(REPO_ROOT, '../shared/SPEC.md');
const specPresent = existsSync(SPEC_PATH);
if (!specPresent) console.warn(`[error-registry] SKIPPED: SPEC.md not found at ${SPEC_PATH}`);

interface SpecRow {
  status: number;
  type: string;
}

/** The rows of the "| status | type | codes |" table in SPEC.md's section 12. */
function specTable(text: string): Map<string, SpecRow> {
  const start = text.search(/^## 12\. /m);
  if (start === -1) throw new Error('SPEC.md has no "## 12." section');
  const rest = text.slice(start + 1);
  const next = rest.search(/^## /m);
  const section = next === -1 ? rest : rest.slice(0, next);
  const codes = new Map<string, SpecRow>();
  for (const line of section.split('\n')) {
    const m = /^\|\s*(\d{3})\s*\|\s*`([a-z_]+)`\s*\|(.*)\|\s*$/.exec(line);
    if (!m) continue;
    for (const code of m[3].matchAll(/`([a-z_]+)`/g)) {
      if (codes.has(code[1])) throw new Error(`SPEC §12 lists ${code[1]} twice`);
      codes.set(code[1], { status: Number(m[1]), type: m[2] });
    }
  }
  return codes;
}

describe.skipIf(!specPresent)('SPEC §12 error envelope: the registry matches the table', () => {
  const spec = specPresent ? specTable(readFileSync(SPEC_PATH, 'utf8')) : new Map<string, SpecRow>();
  const registry = ERROR_REGISTRY as Record<string, { status: number; type: string }>;

  it('finds the table in SPEC.md (at least one code for every status row)', () => {
    const statuses = new Set([...spec.values()].map((r) => r.status));
    expect(statuses).toEqual(new Set([400, 401, 402, 403, 404, 405, 409, 413, 429, 500, 502, 503, 504]));
  });

  it('declares every code of the SPEC table with its status and type', () => {
    const missing: string[] = [];
    const wrong: string[] = [];
    for (const [code, row] of spec) {
      const entry = registry[code];
      if (!entry) missing.push(code);
      else if (entry.status !== row.status || entry.type !== row.type) wrong.push(`${code}: registry ${entry.status} ${entry.type}, SPEC ${row.status} ${row.type}`);
    }
    expect(missing, 'codes in SPEC §12 but not in src/core/error-registry.ts').toEqual([]);
    expect(wrong, 'codes whose status or type differ from SPEC §12').toEqual([]);
  });

  it('declares no code that the SPEC table does not list', () => {
    const extra = Object.keys(registry).filter((code) => !spec.has(code));
    expect(extra, 'codes in src/core/error-registry.ts but not in SPEC §12').toEqual([]);
  });

  it('builds the SPEC envelope for every code through GatewayError', () => {
    for (const [code, row] of spec) {
      if (!(code in registry)) continue;
      const err = new GatewayError(code as ErrorCode, `message for ${code}`, { param: 'field' });
      expect(err.status).toBe(row.status);
      expect(err.toEnvelope()).toEqual({ error: { message: `message for ${code}`, type: row.type, code, param: 'field' } });
    }
  });
});
