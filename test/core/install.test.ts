// A clean install on the Node version package.json promises: no runtime dependency in the
// lock asks for a newer Node (npm ci would warn), and local config and state stay out of git.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT } from '../helpers/money.js';

interface LockEntry {
  version?: string;
  dev?: boolean;
  engines?: { node?: string } | string[];
}

/** The lowest Node major a range such as ">=20.19", "^18 || >=20" or ">= 22.0.0" accepts. */
function lowestMajor(range: string): number {
  const majors = range.split('||').map((part) => Number(/(\d+)/.exec(part)?.[1] ?? 0));
  return Math.min(...majors);
}

describe('install', () => {
  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { engines: { node: string } };
  const supported = lowestMajor(pkg.engines.node);
  const lock = JSON.parse(readFileSync(join(ROOT, 'package-lock.json'), 'utf8')) as { packages: Record<string, LockEntry> };

  it(`every runtime dependency in the lock supports Node ${supported}, the oldest package.json allows`, () => {
    const tooNew = Object.entries(lock.packages)
      .filter(([path, e]) => path !== '' && !e.dev && e.engines && !Array.isArray(e.engines) && e.engines.node)
      .filter(([, e]) => lowestMajor((e.engines as { node: string }).node) > supported)
      .map(([path, e]) => `${path}@${e.version} needs node ${(e.engines as { node: string }).node}`);
    expect(tooNew).toEqual([]);
  });

  it('keeps tollgate.yaml and data/ out of git', () => {
    const ignored = readFileSync(join(ROOT, '.gitignore'), 'utf8').split('\n').map((l) => l.trim());
    expect(ignored).toContain('tollgate.yaml');
    expect(ignored).toContain('data/');
  });
});
