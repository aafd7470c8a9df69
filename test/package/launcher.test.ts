// bin/tollgate.js run as a program, as `npm start`, `npx tollgate` and the systemd unit run it:
// its first line starts Node with the memory settings docs/deployment.md ("Memory") describes.
// A module imported ahead of the CLI (through TOLLGATE_NODE_FLAGS) churns through short-lived
// objects, reports the young generation's size and Node's options, and exits.
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { childEnv, ROOT } from '../helpers/money.js';

const dir = mkdtempSync(join(tmpdir(), 'tollgate-launcher-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const probe = join(dir, 'probe.mjs');
writeFileSync(
  probe,
  `import v8 from 'node:v8';
const kept = [];
for (let i = 0; i < 400000; i++) {
  kept.push({ i, s: 'x' + i });
  if (kept.length > 50000) kept.splice(0, 10000);
}
const young = v8.getHeapSpaceStatistics().find((s) => s.space_name === 'new_space').space_size;
process.stdout.write(JSON.stringify({ young, execArgv: process.execArgv, arenas: process.env.MALLOC_ARENA_MAX ?? null }));
process.exit(0);
`,
);

interface Report {
  young: number;
  execArgv: string[];
  arenas: string | null;
}

function launch(extraFlags: string, env: Record<string, string> = {}): Promise<Report> {
  return new Promise((resolve, reject) => {
    execFile(join(ROOT, 'bin/tollgate.js'), ['--version'], { env: childEnv({ ...env, TOLLGATE_NODE_FLAGS: `${extraFlags} --import ${pathToFileURL(probe).href}` }) }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${err.message}\n${stderr}`));
      else resolve(JSON.parse(stdout) as Report);
    });
  });
}

/** The V8 settings the deployment guide's Memory section lists, as `--flag=value`. */
function documentedFlags(): string[] {
  const page = readFileSync(join(ROOT, 'docs/deployment.md'), 'utf8');
  const section = page.slice(page.indexOf('\n## Memory'), page.indexOf('\n## ', page.indexOf('\n## Memory') + 1));
  return [...section.matchAll(/^- `(--[a-z-]+=\d+)`/gm)].map((m) => m[1]!);
}

const MiB = 1024 * 1024;

describe('the launcher', () => {
  it('starts Node with the documented memory settings: the young generation stays at 8 MiB under churn', async () => {
    const flags = documentedFlags();
    expect(flags).toContain('--max-semi-space-size=4');
    const report = await launch('');
    for (const f of flags) expect(report.execArgv).toContain(f);
    // V8's default lets the same churn grow it to 16 MiB or more.
    expect(report.young).toBeLessThanOrEqual(8 * MiB);
  });

  it('holds glibc malloc to the documented number of arenas unless MALLOC_ARENA_MAX is set', async () => {
    const page = readFileSync(join(ROOT, 'docs/deployment.md'), 'utf8');
    const documented = /`MALLOC_ARENA_MAX=(\d+)`/.exec(page.slice(page.indexOf('\n## Memory')))?.[1];
    expect(documented).toBe('2');
    expect((await launch('')).arenas).toBe(documented);
    expect((await launch('', { MALLOC_ARENA_MAX: '8' })).arenas).toBe('8');
  });

  it('puts TOLLGATE_NODE_FLAGS after its own, so a later value of the same flag wins', async () => {
    const report = await launch('--max-semi-space-size=16');
    expect(report.execArgv.indexOf('--max-semi-space-size=16')).toBeGreaterThan(report.execArgv.indexOf('--max-semi-space-size=4'));
    expect(report.young).toBeGreaterThan(8 * MiB);
  });

  it('is plain JavaScript to Node: `node bin/tollgate.js` runs the CLI with V8 defaults', async () => {
    const out = await new Promise<string>((resolve, reject) =>
      execFile(process.execPath, [join(ROOT, 'bin/tollgate.js'), '--version'], { env: childEnv() }, (err, stdout) => (err ? reject(err) : resolve(stdout))),
    );
    const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string };
    expect(out.trim()).toBe(pkg.version);
  });
});
