// The README and docs/ link only to files that exist in the repository and to headings
// that exist in them; the README's provider table names the models each key really adds.
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CATALOGUE } from '../../src/catalogue/index.js';
import { defaultConfigInput } from '../../src/config/defaults.js';

const ROOT = resolve(import.meta.dirname, '../..');
const pages = [join(ROOT, 'README.md'), ...readdirSync(join(ROOT, 'docs'), { recursive: true, encoding: 'utf8' }).filter((f) => f.endsWith('.md')).map((f) => join(ROOT, 'docs', f))];

/** GitHub's anchor for a heading: lowercase, punctuation dropped, spaces to hyphens. */
function slug(heading: string): string {
  return heading
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{N} _-]/gu, '')
    .replace(/ /g, '-');
}

function anchorsOf(file: string): Set<string> {
  const text = readFileSync(file, 'utf8').replace(/```[\s\S]*?```/g, '');
  const seen = new Map<string, number>();
  const out = new Set<string>();
  for (const m of text.matchAll(/^#{1,6} (.+)$/gm)) {
    const base = slug(m[1]);
    const n = seen.get(base) ?? 0;
    seen.set(base, n + 1);
    out.add(n === 0 ? base : `${base}-${n}`);
  }
  return out;
}

/** Relative link targets outside code blocks: [text](target). */
function linksOf(file: string): string[] {
  const text = readFileSync(file, 'utf8').replace(/```[\s\S]*?```/g, '').replace(/`[^`\n]*`/g, '');
  return [...text.matchAll(/\]\(([^)\s]+)\)/g)].map((m) => m[1]).filter((t) => !/^[a-z]+:/i.test(t));
}

describe('documentation links', () => {
  it('finds the pages', () => {
    expect(pages.map((p) => relative(ROOT, p))).toEqual(expect.arrayContaining(['README.md', 'docs/README.md', 'docs/api.md', 'docs/errors.md', 'docs/configuration.md', 'docs/deployment.md', 'docs/clients.md']));
  });

  it('point only at files inside the repository that exist, and at headings that exist', () => {
    const broken: string[] = [];
    let checked = 0;
    for (const page of pages) {
      for (const link of linksOf(page)) {
        checked++;
        const [path, anchor] = link.split('#', 2);
        const target = path === '' ? page : resolve(dirname(page), path);
        const where = `${relative(ROOT, page)} → ${link}`;
        if (relative(ROOT, target).startsWith('..')) broken.push(`${where}: outside the repository`);
        else if (!existsSync(target)) broken.push(`${where}: no such file`);
        else if (anchor && statSync(target).isFile() && target.endsWith('.md') && !anchorsOf(target).has(anchor)) broken.push(`${where}: no such heading`);
      }
    }
    expect(checked).toBeGreaterThan(20);
    expect(broken).toEqual([]);
  });
});

describe('the docs index', () => {
  it('links every page in docs/', () => {
    const index = join(ROOT, 'docs', 'README.md');
    const linked = new Set(linksOf(index).map((l) => resolve(ROOT, 'docs', l.split('#')[0])));
    const unlisted = pages.filter((p) => p !== index && p.startsWith(join(ROOT, 'docs')) && !linked.has(p)).map((p) => relative(ROOT, p));
    expect(unlisted, 'pages missing from docs/README.md').toEqual([]);
  });
});

describe('README: the models each provider key adds', () => {
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
  const mockOnly = new Set((defaultConfigInput({}).models as Array<{ id: string }>).map((m) => m.id));
  for (const variable of CATALOGUE.vendors.map((v) => v.env[0])) {
    it(`lists exactly the models ${variable} adds to the embedded default`, () => {
      const added = (defaultConfigInput({ [variable]: 'x' }).models as Array<{ id: string }>).map((m) => m.id).filter((id) => !mockOnly.has(id));
      const row = readme.split('\n').find((l) => l.startsWith(`| \`${variable}\` |`));
      expect(row, `README has no provider row for ${variable}`).toBeDefined();
      const listed = [...(row?.split('|')[3] ?? '').matchAll(/`([^`]+)`/g)].map((m) => m[1]);
      expect(listed.sort()).toEqual(added.sort());
    });
  }

  it('lists the mock demo models of the quick start', () => {
    for (const id of mockOnly) expect(readme).toContain(`\`${id}\``);
  });
});
