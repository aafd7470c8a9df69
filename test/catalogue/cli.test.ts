// `tollgate models`: the catalogue one line a model, with the entries the config serves marked
// ("*" a configured model, "~" through a wildcard route or pass-through provider).
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { createRequire } from 'node:module';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CATALOGUE } from '../../src/catalogue/index.js';
import { catalogueLines } from '../../src/cli/models.js';
import { validateConfig } from '../../src/config/load.js';

const ROOT = resolve(import.meta.dirname, '../..');
/** tsx's loader by file URL, so the CLI runs from source in a directory without node_modules. */
const TSX = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href;

function runCli(args: string[], env: Record<string, string>, cwd: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((done, reject) => {
    const childEnv: Record<string, string> = {};
    for (const [k, v] of Object.entries(process.env)) if (v !== undefined && !k.startsWith('TOLLGATE_') && !k.endsWith('_API_KEY') && !k.startsWith('VITEST')) childEnv[k] = v;
    const child = spawn(process.execPath, ['--import', TSX, join(ROOT, 'src/cli/index.ts'), ...args], { cwd, env: { ...childEnv, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c));
    child.stderr.on('data', (c: Buffer) => (stderr += c));
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      done({ code, stdout, stderr });
    });
  });
}

const row = (lines: string[], id: string) => lines.find((l) => l.slice(3).startsWith(`${id} `));

describe('catalogue listing', () => {
  it('marks configured models with * and route-reachable ones with ~, one row per entry', () => {
    const config = validateConfig(
      {
        providers: [
          { id: 'oai', type: 'openai', api_key: 'k' },
          { id: 'ds', type: 'openai', base_url: 'https://api.deepseek.com/v1', api_key: 'k' },
          { id: 'mock', type: 'mock' },
        ],
        models: [{ catalogue: 'gpt-5.4' }, { id: 'ds/*', channels: [{ provider: 'ds' }] }, { id: 'mock-chat', pricing: 'free', channels: [{ provider: 'mock', upstream_model: 'mock-chat' }] }],
      },
      {},
    );
    const lines = catalogueLines(config);
    expect(lines[0]).toMatch(/model\s+vendor\s+context\s+max out\s+in \$\/M\s+out \$\/M\s+cache r\s+cache w\s+checked\s+capabilities/);
    for (const m of CATALOGUE.models) expect(row(lines, m.id), m.id).toBeDefined();
    expect(row(lines, 'gpt-5.4')).toMatch(/^\* {2}gpt-5\.4 +openai +1050K +128K +2\.5 +15 +0\.25 +2\.5 +\d{4}-\d\d-\d\d +tools,vision,reasoning,json_schema$/);
    expect(row(lines, 'gpt-5.2')?.startsWith('   ')).toBe(true);
    expect(row(lines, 'deepseek-chat')?.startsWith('~  ')).toBe(true);
    expect(row(lines, 'deepseek-reasoner')?.startsWith('~  ')).toBe(true);
    expect(lines.join('\n')).toContain(`${CATALOGUE.models.length} catalogue models, 3 served by this config`);
  });

  it('lists one vendor', () => {
    const config = validateConfig({ providers: [{ id: 'mock', type: 'mock' }], models: [{ id: 'm', pricing: 'free', channels: [{ provider: 'mock', upstream_model: 'mock-chat' }] }] }, {});
    const lines = catalogueLines(config, { vendor: 'zhipu' });
    expect(lines.filter((l) => / zhipu /.test(l)).length).toBe(CATALOGUE.models.filter((m) => m.vendor === 'zhipu').length);
    expect(lines.some((l) => / openai /.test(l))).toBe(false);
  });
});

describe('tollgate models', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'tollgate-models-'));
  });
  afterAll(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  it('marks what a vendor key variable enables in the embedded default', async () => {
    const r = await runCli(['models', '--vendor', 'zhipu'], { GLM_API_KEY: 'glm-test' }, dir);
    expect(r.code, r.stderr).toBe(0);
    const lines = r.stdout.split('\n');
    expect(row(lines, 'glm-5-turbo')).toMatch(/^\* {2}glm-5-turbo +zhipu +200K +128K +1\.2 +4 +0\.24 +1\.2 /);
    expect(r.stdout).not.toContain(' openai ');
    expect(r.stdout).not.toContain('glm-test');
  });

  it('reads a config file, and refuses an unknown vendor', async () => {
    const file = join(dir, 'models.yaml');
    writeFileSync(file, ['providers:', '  - { id: oai, type: openai, api_key: k }', 'models:', '  - catalogue: gpt-5.2', ''].join('\n'));
    const r = await runCli(['models', '--config', file, '--json'], {}, dir);
    expect(r.code, r.stderr).toBe(0);
    const body = JSON.parse(r.stdout) as { models: Array<{ id: string; served: string | null }> };
    expect(body.models.find((m) => m.id === 'gpt-5.2')?.served).toBe('configured');
    expect(body.models.find((m) => m.id === 'gpt-5.4')?.served).toBeNull();
    const bad = await runCli(['models', '--vendor', 'acme'], {}, dir);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain('unknown vendor "acme"');
  });
});
