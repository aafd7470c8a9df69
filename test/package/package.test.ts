// The published package: `npm pack` of the built tree, installed into an empty folder, then
// `npx tollgate serve` there starts with the console and the demo org, and its printed curl
// line answers 200. One install, from npm's local cache where it can (the dependencies
// `npm ci` already fetched); better-sqlite3's native addon, whose build from source takes
// minutes, is the one the project tree compiled (same package version, same Node).
import { type ChildProcess, spawn } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { childEnv, freePort, ROOT } from '../helpers/money.js';

const dir = mkdtempSync(join(tmpdir(), 'tollgate-pack-'));
const app = join(dir, 'app');
let server: ChildProcess | undefined;
let packed: { filename: string; files: Array<{ path: string }> };

function run(cmd: string, args: string[], cwd: string): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { cwd, env: childEnv({ npm_config_update_notifier: 'false' }) });
    let out = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    child.stderr.on('data', (c: Buffer) => (out += c.toString()));
    child.on('close', (code) => resolve({ code, out }));
  });
}

beforeAll(async () => {
  // `npm test` builds before vitest; build here when this file runs on its own.
  if (!existsSync(join(ROOT, 'dist', 'cli', 'index.js')) || !existsSync(join(ROOT, 'console', 'dist', 'index.html'))) {
    const b = await run('npm', ['run', 'build'], ROOT);
    if (b.code !== 0) throw new Error(`npm run build failed:\n${b.out}`);
  }
  // The tree is built already: `prepare` (the build) would rewrite dist/ under the feet of other test files.
  const p = await run('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', dir], ROOT);
  if (p.code !== 0) throw new Error(`npm pack failed:\n${p.out}`);
  packed = (JSON.parse(p.out.slice(p.out.indexOf('['))) as Array<typeof packed>)[0];
}, 300_000);

afterAll(async () => {
  if (server?.pid && server.exitCode === null) {
    process.kill(-server.pid, 'SIGKILL');
  }
  rmSync(dir, { recursive: true, force: true });
});

describe('npm package', () => {
  it('holds the built code, the console, the catalogue data and the CLI, and no sources or tests', () => {
    const files = packed.files.map((f) => f.path);
    for (const f of ['bin/tollgate.js', 'dist/cli/index.js', 'dist/main.js', 'dist/store/migrations.js', 'dist/catalogue/models.json', 'console/dist/index.html', 'package.json', 'README.md']) {
      expect(files, f).toContain(f);
    }
    expect(files.some((f) => f.startsWith('console/dist/assets/'))).toBe(true);
    expect(files.filter((f) => f.startsWith('src/') || f.startsWith('test/') || f.startsWith('console/src/'))).toEqual([]);
    const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { bin: Record<string, string>; scripts: Record<string, string> };
    expect(pkg.bin.tollgate).toBe('bin/tollgate.js');
    expect(pkg.scripts.prepare).toBe('npm run build');
  });

  it('installs into an empty folder, and `npx tollgate serve` there starts with the demo and the console', async () => {
    mkdirSync(app);
    writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'tollgate-install-check', private: true }));
    const install = await run('npm', ['install', '--prefer-offline', '--ignore-scripts', '--omit=dev', '--no-audit', '--no-fund', join(dir, packed.filename)], app);
    expect(install.code, install.out).toBe(0);
    const native = join('node_modules', 'better-sqlite3', 'build');
    cpSync(join(ROOT, native), join(app, native), { recursive: true });

    const port = await freePort();
    // Its own process group, so the npx wrapper and the server it starts stop together.
    server = spawn('npx', ['--offline', 'tollgate', 'serve', '--port', String(port)], { cwd: app, env: childEnv(), detached: true });
    let out = '';
    let err = '';
    server.stderr!.on('data', (c: Buffer) => (err += c.toString()));
    const exited = new Promise<number | string | null>((resolve) => server!.on('exit', (code, signal) => resolve(code ?? signal)));
    // Ready once the demo's curl line is printed; fails if the process exits first or within 60 s.
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`serve printed no curl line in 60 s; stdout: ${out}; stderr: ${err}`)), 60_000);
      server!.stdout!.on('data', (c: Buffer) => {
        out += c.toString();
        if (/^\s*curl .*'\s*$/m.test(out)) {
          clearTimeout(timer);
          resolve();
        }
      });
      void exited.then((code) => {
        clearTimeout(timer);
        reject(new Error(`serve exited (${code}) before it was ready; stdout: ${out}; stderr: ${err}`));
      });
    });
    expect(out).toContain(`http://127.0.0.1:${port}`);
    expect(existsSync(join(app, 'data', 'tollgate.db'))).toBe(true);

    const curl = out.split('\n').find((l) => l.trim().startsWith('curl '))!;
    const target = /curl\s+(\S+)/.exec(curl)![1];
    const headers: Record<string, string> = {};
    for (const m of curl.matchAll(/-H\s+"([^:"]+):\s*([^"]*)"/g)) headers[m[1].toLowerCase()] = m[2];
    const data = /-d\s+'([^']*)'/.exec(curl)![1];
    const res = await fetch(target, { method: 'POST', headers, body: data });
    const text = await res.text();
    expect(res.status, text).toBe(200);
    expect((JSON.parse(text) as { object: string }).object).toBe('chat.completion');

    const page = await fetch(`http://127.0.0.1:${port}/console/`);
    expect(page.status).toBe(200);
    const html = await page.text();
    const asset = /src="(\/console\/assets\/[^"]+\.js)"/.exec(html)?.[1];
    expect(asset, html).toBeDefined();
    expect((await fetch(`http://127.0.0.1:${port}${asset}`)).status).toBe(200);

    process.kill(-server.pid!, 'SIGTERM');
    await exited;
  }, 300_000);
});
