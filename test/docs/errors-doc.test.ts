// docs/errors.md is the public list of error codes: it must document exactly the codes of
// src/core/error-registry.ts, each with the registry's status and type, what it means, what
// to do about it and a curl that shows it.
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ERROR_REGISTRY } from '../../src/core/error-registry.js';

const PAGE = resolve(import.meta.dirname, '../../docs/errors.md');
const registry = ERROR_REGISTRY as Record<string, { status: number; type: string }>;

interface Section {
  code: string;
  body: string;
}

/** Every "### `code`" section of the page, up to the next heading. */
function sections(text: string): Section[] {
  const out: Section[] = [];
  const heading = /^#{2,4} /;
  const lines = text.split('\n');
  let inFence = false;
  let current: Section | undefined;
  for (const line of lines) {
    if (line.startsWith('```')) inFence = !inFence;
    if (!inFence && heading.test(line)) {
      current = undefined;
      const m = /^### `([a-z_]+)`\s*$/.exec(line);
      if (m) {
        current = { code: m[1], body: '' };
        out.push(current);
      }
      continue;
    }
    if (current) current.body += `${line}\n`;
  }
  return out;
}

/** The rows of the "| status | type | codes |" summary table. */
function summaryTable(text: string): Map<string, { status: number; type: string }> {
  const rows = new Map<string, { status: number; type: string }>();
  for (const line of text.split('\n')) {
    const m = /^\|\s*(\d{3})\s*\|\s*`([a-z_]+)`\s*\|(.*)\|\s*$/.exec(line);
    if (!m) continue;
    for (const c of m[3].matchAll(/`([a-z_]+)`/g)) {
      if (rows.has(c[1])) throw new Error(`the summary table lists ${c[1]} twice`);
      rows.set(c[1], { status: Number(m[1]), type: m[2] });
    }
  }
  return rows;
}

const text = readFileSync(PAGE, 'utf8');
const documented = sections(text);

describe('docs/errors.md documents every error code of the registry', () => {
  it('has a section for every registry code', () => {
    const have = new Set(documented.map((s) => s.code));
    const missing = Object.keys(registry).filter((c) => !have.has(c));
    expect(missing, 'codes in src/core/error-registry.ts without a "### `code`" section in docs/errors.md').toEqual([]);
  });

  it('documents no code that the registry lacks, and each code once', () => {
    const extra = documented.map((s) => s.code).filter((c) => !(c in registry));
    expect(extra, 'sections in docs/errors.md for codes not in src/core/error-registry.ts').toEqual([]);
    const codes = documented.map((s) => s.code);
    const twice = codes.filter((c, i) => codes.indexOf(c) !== i);
    expect(twice, 'codes with more than one section').toEqual([]);
  });

  it("states each code's status and type as the registry declares them", () => {
    const wrong: string[] = [];
    for (const s of documented) {
      const entry = registry[s.code];
      if (!entry) continue;
      const m = /^Status \*\*(\d{3})\*\*, type `([a-z_]+)`\./m.exec(s.body);
      if (!m) wrong.push(`${s.code}: no "Status **NNN**, type \`...\`." line`);
      else if (Number(m[1]) !== entry.status || m[2] !== entry.type) wrong.push(`${s.code}: page says ${m[1]} ${m[2]}, registry ${entry.status} ${entry.type}`);
    }
    expect(wrong).toEqual([]);
  });

  it('says what to do and shows a curl for each code', () => {
    const incomplete: string[] = [];
    for (const s of documented) {
      if (!/^What to do:/m.test(s.body)) incomplete.push(`${s.code}: no "What to do:" paragraph`);
      if (!/```sh\n[\s\S]*?\bcurl\b[\s\S]*?```/.test(s.body)) incomplete.push(`${s.code}: no sh block with a curl`);
    }
    expect(incomplete).toEqual([]);
  });

  it("lists every code in the summary table with the registry's status and type", () => {
    const table = summaryTable(text);
    const problems: string[] = [];
    for (const [code, entry] of Object.entries(registry)) {
      const row = table.get(code);
      if (!row) problems.push(`${code}: not in the summary table`);
      else if (row.status !== entry.status || row.type !== entry.type) problems.push(`${code}: table says ${row.status} ${row.type}, registry ${entry.status} ${entry.type}`);
    }
    for (const code of table.keys()) if (!(code in registry)) problems.push(`${code}: in the summary table but not in the registry`);
    expect(problems).toEqual([]);
  });
});
