// docs/configuration.md documents every field of the config schema with its type and
// default, and nothing the schema lacks: the page is read, the zod schema is walked.
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { ConfigError, validateConfig } from '../../src/config/load.js';
import { configSchema } from '../../src/config/schema.js';
import { type SchemaLeaf, schemaLeaves } from './schema-paths.js';

const PAGE = resolve(import.meta.dirname, '../../docs/configuration.md');

interface DocRow {
  path: string;
  type: string;
  default: string;
  meaning: string;
}

/** Rows of every table whose header starts with "| field | type | default |". */
function docRows(text: string): DocRow[] {
  const rows: DocRow[] = [];
  let inTable = false;
  for (const line of text.split('\n')) {
    if (/^\|\s*field\s*\|\s*type\s*\|\s*default\s*\|/.test(line)) {
      inTable = true;
      continue;
    }
    if (!line.startsWith('|')) {
      inTable = false;
      continue;
    }
    if (!inTable || /^\|\s*-/.test(line)) continue;
    const cells = line.slice(1, line.endsWith('|') ? -1 : undefined).split(/(?<!\\)\|/).map((c) => c.trim());
    const path = /^`([^`]+)`$/.exec(cells[0] ?? '')?.[1];
    if (!path) throw new Error(`a configuration table row without a \`path\` in its first cell: ${line}`);
    rows.push({ path, type: cells[1] ?? '', default: cells[2] ?? '', meaning: cells[3] ?? '' });
  }
  return rows;
}

/** The documented default: "—" for none, else the first `literal` of the cell read as YAML. */
function documentedDefault(cell: string): { none: true } | { none: false; value: unknown } {
  if (cell === '—' || cell === '-') return { none: true };
  const lit = /`([^`]*)`/.exec(cell)?.[1];
  if (lit === undefined) throw new Error(`default cell "${cell}" is neither — nor a \`literal\``);
  return { none: false, value: parseYaml(lit) };
}

/** What the type cell must say for a schema leaf. */
function typeProblem(leaf: SchemaLeaf, cell: string): string | undefined {
  const words: Record<string, RegExp> = {
    string: /\bstring\b/,
    integer: /\binteger\b/,
    number: /\bnumber\b/,
    boolean: /\bboolean\b/,
    list: /\blist\b/,
    map: /\bmap\b/,
  };
  if (leaf.kind === 'enum' || leaf.kind === 'literal') {
    const missing = leaf.options.filter((o) => !cell.includes(`\`${o}\``));
    if (missing.length > 0) return `type cell does not list ${missing.map((o) => `\`${o}\``).join(', ')}`;
  } else if (words[leaf.kind] && !words[leaf.kind].test(cell)) return `type cell should say "${leaf.kind}"`;
  if (leaf.nullable && !/\bnull\b/.test(cell)) return 'type cell should say the field may be null';
  return undefined;
}

const text = readFileSync(PAGE, 'utf8');
const rows = docRows(text);
const leaves = schemaLeaves(configSchema);

describe('docs/configuration.md matches the config schema', () => {
  it('finds the field tables', () => {
    expect(rows.length).toBeGreaterThan(20);
  });

  it('documents every field of the schema', () => {
    const documented = new Set(rows.map((r) => r.path));
    expect(leaves.map((l) => l.path).filter((p) => !documented.has(p)), 'schema fields missing from docs/configuration.md').toEqual([]);
  });

  it('documents no field the schema lacks, and each field once', () => {
    const known = new Set(leaves.map((l) => l.path));
    expect(rows.map((r) => r.path).filter((p) => !known.has(p)), 'fields in docs/configuration.md that the schema does not have').toEqual([]);
    const paths = rows.map((r) => r.path);
    expect(paths.filter((p, i) => paths.indexOf(p) !== i), 'fields documented twice').toEqual([]);
  });

  it("states each field's type as the schema declares it", () => {
    const problems: string[] = [];
    for (const leaf of leaves) {
      const row = rows.find((r) => r.path === leaf.path);
      const p = row && typeProblem(leaf, row.type);
      if (p) problems.push(`${leaf.path}: ${p} (says "${row?.type}")`);
    }
    expect(problems).toEqual([]);
  });

  it("states each field's default as the schema applies it", () => {
    const problems: string[] = [];
    for (const leaf of leaves) {
      const row = rows.find((r) => r.path === leaf.path);
      if (!row) continue;
      const doc = documentedDefault(row.default);
      if (!leaf.hasDefault) {
        if (!doc.none) problems.push(`${leaf.path}: documents a default ${JSON.stringify(doc.value)}, the schema has none`);
      } else if (doc.none) problems.push(`${leaf.path}: documents no default, the schema's is ${JSON.stringify(leaf.defaultValue)}`);
      else if (JSON.stringify(doc.value) !== JSON.stringify(leaf.defaultValue)) {
        problems.push(`${leaf.path}: documents ${JSON.stringify(doc.value)}, the schema's default is ${JSON.stringify(leaf.defaultValue)}`);
      }
    }
    expect(problems).toEqual([]);
  });

  it('explains every field', () => {
    expect(rows.filter((r) => r.meaning.length < 10).map((r) => r.path), 'rows without a meaning').toEqual([]);
  });

  it('shows examples that the config loader accepts', () => {
    const blocks = [...text.matchAll(/```yaml\n([\s\S]*?)```/g)].map((m) => m[1]);
    expect(blocks.length).toBeGreaterThan(0);
    for (const block of blocks) {
      // As the loader reads a file: catalogue references expanded, then the schema and the cross-field checks.
      let problem = '';
      try {
        validateConfig(parseYaml(block), {});
      } catch (err) {
        problem = err instanceof ConfigError ? err.message : String(err);
      }
      expect(problem, `example does not validate:\n${block}`).toBe('');
    }
  });
});
