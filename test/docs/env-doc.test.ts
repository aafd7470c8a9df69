// docs/deployment.md lists every environment variable the code reads: the sources are searched
// for process.env / env reads, literal `${NAME}` config references and the catalogue's vendor
// keys, and the table must hold exactly those.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = resolve(import.meta.dirname, '../..');
const page = readFileSync(join(ROOT, 'docs/deployment.md'), 'utf8');

function sourceFiles(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...sourceFiles(p));
    else if (p.endsWith('.ts') && !p.endsWith('.test.ts')) out.push(p);
  }
  return out;
}

/** Names the code reads from the environment. */
function variablesRead(): Map<string, string> {
  const found = new Map<string, string>();
  const reads = [
    /process\.env\.([A-Z][A-Z0-9_]*)/g,
    /process\.env\[\s*['"]([A-Z][A-Z0-9_]*)['"]\s*\]/g,
    /\benv\.([A-Z][A-Z0-9_]*)\b/g,
    /\benv\[\s*['"]([A-Z][A-Z0-9_]*)['"]\s*\]/g,
    // a config value that is nothing but a reference, e.g. admin_token: '${TOLLGATE_ADMIN_TOKEN}'
    /'\$\{([A-Z][A-Z0-9_]*)(?::-[^}']*)?\}'/g,
    // the launcher's shell line, e.g. ${TOLLGATE_NODE_FLAGS-} and ${MALLOC_ARENA_MAX-2}
    /\$\{([A-Z][A-Z0-9_]*)-[^}]*\}/g,
  ];
  for (const file of [...sourceFiles(join(ROOT, 'src')), join(ROOT, 'bin', 'tollgate.js')]) {
    const text = readFileSync(file, 'utf8');
    for (const re of reads) for (const m of text.matchAll(re)) found.set(m[1], file.slice(ROOT.length + 1));
  }
  const catalogue = JSON.parse(readFileSync(join(ROOT, 'src/catalogue/models.json'), 'utf8')) as { vendors: Array<{ env?: string[]; base_url_env?: string }> };
  for (const v of catalogue.vendors) {
    for (const name of v.env ?? []) found.set(name, 'src/catalogue/models.json');
    if (v.base_url_env) found.set(v.base_url_env, 'src/catalogue/models.json');
  }
  return found;
}

function documented(): string[] {
  const start = page.indexOf('<!-- env-vars -->');
  expect(start, 'docs/deployment.md has no <!-- env-vars --> table').toBeGreaterThan(-1);
  const names: string[] = [];
  for (const line of page.slice(start).split('\n').slice(3)) {
    if (!line.startsWith('|')) break;
    for (const m of (line.split('|')[1] ?? '').matchAll(/`([A-Z][A-Z0-9_]*)`/g)) names.push(m[1]);
  }
  return names;
}

describe('docs/deployment.md environment variables', () => {
  it('lists every variable the code reads', () => {
    const read = variablesRead();
    expect(read.size).toBeGreaterThan(5);
    const listed = new Set(documented());
    expect([...read.entries()].filter(([n]) => !listed.has(n)).map(([n, f]) => `${n} (${f})`)).toEqual([]);
  });

  it('lists no variable the code does not read', () => {
    const read = variablesRead();
    expect(documented().filter((n) => !read.has(n))).toEqual([]);
  });
});
