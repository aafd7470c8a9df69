// SPEC §8 configuration and CLI: YAML with ${ENV} interpolation, validation errors that name
// the field and line, cross-checks, `tollgate init` and `tollgate check`, and the embedded
// default that adds real providers when their API key is in the environment.
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { defaultConfigInput } from '../../src/config/defaults.js';
import { ConfigError, loadConfig, parseConfig, parseConfigWithWarnings, validateConfig } from '../../src/config/load.js';
import { STARTER_CONFIG } from '../../src/config/starter.js';
import { startMockUpstream } from '../../src/providers/mock/http-server.js';

const ROOT = resolve(import.meta.dirname, '../..');
const CLI = join(ROOT, 'bin/tollgate.js');
const BUILT = join(ROOT, 'dist/cli/index.js');

let dir: string;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'tollgate-config-'));
  if (!existsSync(BUILT)) execFileSync('npx', ['tsc', '-p', 'tsconfig.json'], { cwd: ROOT, stdio: 'ignore' });
});

afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

/** Runs the built CLI without blocking this process (an in-process upstream must keep answering). */
function runCli(args: string[], env: Record<string, string> = {}, cwd = dir): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolvePromise, reject) => {
    const childEnv: Record<string, string> = {};
    for (const [k, v] of Object.entries(process.env)) if (v !== undefined && !k.startsWith('TOLLGATE_') && !k.endsWith('_API_KEY')) childEnv[k] = v;
    const child = spawn(process.execPath, [CLI, ...args], { cwd, env: { ...childEnv, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c));
    child.stderr.on('data', (c: Buffer) => (stderr += c));
    const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolvePromise({ code, stdout, stderr });
    });
  });
}

const lines = (...l: string[]) => `${l.join('\n')}\n`;
/** An `${EXPR}` reference as written in a config file (built so no linter mistakes it for a template). */
const ref = (expr: string) => ['$', '{', expr, '}'].join('');

/** A valid config; `input_per_mtok` sits on line 12. */
function configText(opts: { inputPrice?: string; provider?: string; extraProviders?: string[]; extraModels?: string[] } = {}): string {
  return lines(
    'server:',
    '  host: 127.0.0.1',
    '  port: 0',
    'providers:',
    '  - id: mock',
    '    type: mock',
    ...(opts.extraProviders ?? []),
    'models:',
    '  - id: mock-chat',
    '    context_window: 32000',
    '    max_output_tokens: 4096',
    '    pricing:',
    `      input_per_mtok: ${opts.inputPrice ?? '1.5'}`,
    '      output_per_mtok: 2',
    '    channels:',
    `      - { provider: ${opts.provider ?? 'mock'}, upstream_model: mock-chat }`,
    ...(opts.extraModels ?? []),
  );
}

function configError(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (err) {
    if (err instanceof ConfigError) return err;
    throw err;
  }
  throw new Error('expected a ConfigError');
}

describe('SPEC §8 config file: parsing and interpolation', () => {
  it('parses YAML into a config with every default filled in', () => {
    const cfg = parseConfig(configText(), {});
    expect(cfg.server).toMatchObject({ host: '127.0.0.1', port: 0, max_body_bytes: 10485760, shutdown_grace_s: 30 });
    expect(cfg.providers[0]).toMatchObject({ id: 'mock', type: 'mock', timeouts: { connect_ms: 5000, first_byte_ms: 60000, idle_ms: 30000 } });
    expect(cfg.models[0]).toMatchObject({ id: 'mock-chat', kind: 'chat', context_window: 32000, max_output_tokens: 4096, pricing: { input_per_mtok: 1.5, output_per_mtok: 2 }, maintenance: false });
    expect(cfg.models[0].channels[0]).toEqual({ provider: 'mock', upstream_model: 'mock-chat', priority: 0, weight: 1 });
    expect(cfg.routing).toMatchObject({ max_attempts: 4, retry_base_ms: 250, retry_max_ms: 30000 });
    expect(cfg.circuit_breaker).toMatchObject({ failure_threshold: 5, window_s: 30, cooldown_s: 30 });
    expect(cfg.limits).toEqual({ key_rpm: 600, key_tpm: null, org_rpm: null, org_tpm: null, key_max_concurrency: null, org_max_concurrency: null });
    expect(cfg.storage.url).toBe('sqlite://./data/tollgate.db');
  });

  it(`interpolates ${ref('NAME')} and falls back to ${ref('NAME:-default')} when the variable is unset`, () => {
    const text = lines(
      'server:',
      `  admin_token: "${ref('ADMIN_TOKEN_FOR_TEST:-fallback-admin')}"`,
      'providers:',
      '  - id: up',
      '    type: openai',
      `    base_url: "${ref('UP_URL:-http://127.0.0.1:9999/v1')}"`,
      `    api_key: "${ref('UP_KEY')}"`,
      `    headers: { x-team: "team-${ref('TEAM')}" }`,
      'models:',
      '  - { id: m, pricing: free, channels: [{ provider: up, upstream_model: m }] }',
    );
    const cfg = parseConfig(text, { UP_KEY: 'secret-value-1', TEAM: 'search' });
    expect(cfg.server.admin_token).toBe('fallback-admin');
    expect(cfg.providers[0].base_url).toBe('http://127.0.0.1:9999/v1');
    expect(cfg.providers[0].api_key).toBe('secret-value-1');
    expect(cfg.providers[0].headers).toEqual({ 'x-team': 'team-search' });
    const overridden = parseConfig(text, { UP_KEY: 'k', UP_URL: 'http://10.0.0.1:8000/v1', ADMIN_TOKEN_FOR_TEST: 'from-env' });
    expect(overridden.providers[0].base_url).toBe('http://10.0.0.1:8000/v1');
    expect(overridden.server.admin_token).toBe('from-env');
  });

  it('leaves an optional secret unset when its variable is missing', () => {
    const cfg = parseConfig(configText().replace('  port: 0', `  port: 0\n  admin_token: "${ref('MISSING_ADMIN_TOKEN')}"`), {});
    expect(cfg.server.admin_token).toBeUndefined();
  });

  it('reads the file named by loadConfig({ path })', () => {
    const file = join(dir, 'load.yaml');
    writeFileSync(file, configText({ inputPrice: '3' }));
    const loaded = loadConfig({ path: file, env: {} });
    expect(loaded.path).toBe(file);
    expect(loaded.config.models[0].pricing.input_per_mtok).toBe(3);
    expect(configError(() => loadConfig({ path: join(dir, 'missing.yaml'), env: {} })).message).toContain('does not exist');
  });

  it('a missing config file is named with where the name came from and how to write one', () => {
    const missing = join(dir, 'missing.yaml');
    expect(configError(() => loadConfig({ path: missing, env: {} })).message).toBe(`config file ${missing} does not exist; write one with: tollgate init --config ${missing}`);
    expect(configError(() => loadConfig({ env: { TOLLGATE_CONFIG: missing } })).message).toBe(
      `config file ${missing} (named by TOLLGATE_CONFIG) does not exist; write one with: tollgate init --config ${missing}`,
    );
    expect(configError(() => loadConfig({ path: dir, env: {} })).message).toBe(`cannot read config file ${dir}: EISDIR`);
  });
});

describe('SPEC §8 config file: errors name the field and line', () => {
  it('names the field path and line of a value of the wrong type', () => {
    const text = configText({ inputPrice: 'cheap' });
    expect(text.split('\n')[11]).toContain('input_per_mtok: cheap');
    const err = configError(() => parseConfig(text, {}, 'tollgate.yaml'));
    expect(err.message).toContain('tollgate.yaml');
    expect(err.message).toContain('models[0].pricing.input_per_mtok (line 12)');
  });

  it('names the line of an invalid enum value', () => {
    const err = configError(() => parseConfig(configText().replace('    type: mock', '    type: openia'), {}));
    expect(err.message).toContain('providers[0].type (line 6)');
  });

  it('reports YAML syntax errors', () => {
    const err = configError(() => parseConfig('providers:\n  - id: [unclosed\n', {}));
    expect(err.message).toContain('not valid YAML');
  });

  it('rejects a channel whose provider is not configured, listing the configured ones', () => {
    const err = configError(() => parseConfig(configText({ provider: 'nope' }), {}));
    expect(err.message).toContain('models[0].channels[0].provider (line 15): unknown provider "nope"');
    expect(err.message).toContain('configured: mock');
  });

  it('rejects duplicate provider ids and duplicate model ids', () => {
    const dupProvider = configError(() => parseConfig(configText({ extraProviders: ['  - id: mock', '    type: mock'] }), {}));
    expect(dupProvider.message).toContain('providers[1].id (line 7): duplicate provider id "mock"');
    const dupModel = configError(() => parseConfig(configText({ extraModels: ['  - id: mock-chat', '    pricing: free', '    channels: [{ provider: mock, upstream_model: other }]'] }), {}));
    expect(dupModel.message).toContain('models[1].id (line 16): duplicate model id "mock-chat"');
  });

  it('refuses a storage url the store cannot open, with its line, before anything starts', () => {
    const mysql = configError(() => parseConfig(`storage:\n  url: "mysql://db/tollgate"\n${configText()}`, {}));
    expect(mysql.message).toContain('storage.url (line 2): storage url must start with sqlite:// or postgres://');
    const noFile = configError(() => parseConfig(`storage: { url: "sqlite://" }\n${configText()}`, {}));
    expect(noFile.message).toContain('storage.url (line 1): storage url "sqlite://" names no file');
    expect(parseConfig(`storage: { url: "postgresql://db/tollgate" }\n${configText()}`, {}).storage.url).toBe('postgresql://db/tollgate');
  });

  it('names the line of an alias that is taken by another model', () => {
    const extra = ['  - id: mock-two', '    aliases: [mock-chat, shared]', '    pricing: free', '    channels: [{ provider: mock, upstream_model: x }]'];
    const third = ['  - id: mock-three', '    aliases: [shared]', '    pricing: free', '    channels: [{ provider: mock, upstream_model: x }]'];
    const err = configError(() => parseConfig(configText({ extraModels: [...extra, ...third] }), {}));
    expect(err.message).toContain('models[1].aliases[0] (line 17): "mock-chat" is already the id of a model');
    expect(err.message).toContain('models[2].aliases[0] (line 21): "shared" is already an alias of "mock-two"');
  });

  it('rejects unknown settings instead of ignoring them', () => {
    const err = configError(() => parseConfig(configText().replace('  port: 0', '  port: 0\n  prot: 8080'), {}));
    expect(err.message).toMatch(/server.*prot/s);
  });
});

describe('config tells the truth (issue 14, item 4)', () => {
  it(`names an unset ${ref('VAR')} with its field and line instead of leaving it silently empty`, () => {
    const text = configText({ extraProviders: ['  - id: up', '    type: openai', '    base_url: http://127.0.0.1:9/v1', `    api_key: "${ref('UPSTREAM_KEY_NOT_SET')}"`] });
    const checked = parseConfigWithWarnings(text, {});
    expect(checked.config.providers[1].api_key).toBeUndefined();
    expect(checked.unset).toEqual([{ path: ['providers', 1, 'api_key'], names: ['UPSTREAM_KEY_NOT_SET'], whole: true }]);
    expect(checked.warnings).toEqual([`providers[1].api_key (line 10): ${ref('UPSTREAM_KEY_NOT_SET')} is not set, so api_key is left unset`]);
    expect(parseConfigWithWarnings(text, { UPSTREAM_KEY_NOT_SET: 'k' }).warnings).toEqual([]);
  });

  it('names the unset variable when the field it leaves empty is required', () => {
    const text = configText().replace('  - id: mock-chat', `  - id: "${ref('MODEL_ID_NOT_SET')}"`);
    const err = configError(() => parseConfig(text, {}));
    const line = err.problems.find((p) => p.startsWith('models[0].id (line 8): '));
    expect(line).toContain(`${ref('MODEL_ID_NOT_SET')} is not set`);
  });

  it('refuses a model without pricing, naming it and its line, and says how to make it free', () => {
    const text = configText().replace(/ {4}pricing:\n.*\n.*\n/, '');
    const err = configError(() => parseConfig(text, {}, 'tollgate.yaml'));
    expect(err.message).toContain('models[0].pricing (line 8): model "mock-chat" has no pricing');
    expect(err.message).toContain('pricing: free');
  });

  it('accepts pricing: free as an explicit zero price', () => {
    const text = configText().replace(/ {4}pricing:\n.*\n.*\n/, '    pricing: free\n');
    expect(parseConfig(text, {}).models[0].pricing).toEqual({ input_per_mtok: 0, output_per_mtok: 0 });
    const wrong = configError(() => parseConfig(configText().replace(/ {4}pricing:\n.*\n.*\n/, '    pricing: cheap\n'), {}));
    expect(wrong.message).toMatch(/models\[0\]\.pricing \(line 11\): expected an object or "free"/);
  });

  it('suggests the nearest field name for a typo, with its line', () => {
    const text = configText({ extraProviders: ['  - id: up', '    type: openai', '    base_ulr: http://127.0.0.1:9/v1'] });
    const err = configError(() => parseConfig(text, {}));
    expect(err.message).toContain('providers[1].base_ulr (line 9): unknown setting "base_ulr"; did you mean "base_url"?');
    const top = configError(() => parseConfig(`${configText()}stroage: { url: "sqlite://x.db" }\n`, {}));
    expect(top.message).toMatch(/stroage \(line 16\): unknown setting "stroage"; did you mean "storage"\?/);
    const nested = configError(() => parseConfig(configText().replace('      input_per_mtok: 1.5', '      input_per_mtk: 1.5'), {}));
    expect(nested.message).toContain('did you mean "input_per_mtok"?');
  });

  it('shows a line number on every error of a broken file', () => {
    const text = configText({ provider: 'nope', extraProviders: ['  - id: mock', '    type: mock', '    base_ulr: x'] }).replace('  port: 0', '  port: -1');
    const err = configError(() => parseConfig(text, {}));
    expect(err.problems.length).toBeGreaterThanOrEqual(2);
    for (const p of err.problems) expect(p).toMatch(/\(line \d+\): /);
    const yaml = configError(() => parseConfig('providers:\n  - id: [unclosed\n', {}));
    for (const p of yaml.problems) expect(p).toMatch(/line \d+/);
  });

  it('the starter config and the embedded default price every model', () => {
    for (const m of validateConfig(defaultConfigInput({ OPENAI_API_KEY: 'k', ANTHROPIC_API_KEY: 'k', GEMINI_API_KEY: 'k' }), {}).models) {
      expect(m.pricing.input_per_mtok, m.id).toBeGreaterThan(0);
    }
    expect(parseConfig(STARTER_CONFIG, {}).models.every((m) => m.pricing.input_per_mtok > 0)).toBe(true);
  });

  it('`tollgate check` names an unset variable behind a provider key and fails without blaming the provider', async () => {
    const file = join(dir, 'check-unset.yaml');
    writeFileSync(
      file,
      lines(
        'providers:',
        '  - id: local',
        '    type: openai',
        '    base_url: http://127.0.0.1:9/v1',
        `    api_key: "${ref('CHECK_KEY_NEVER_SET')}"`,
        'models:',
        '  - { id: local-chat, pricing: free, channels: [{ provider: local, upstream_model: mock-chat }] }',
      ),
    );
    const r = await runCli(['check', '--config', file]);
    expect(r.code).toBe(1);
    expect(r.stdout).toContain(`warning: providers[0].api_key (line 5): ${ref('CHECK_KEY_NEVER_SET')} is not set`);
    expect(r.stdout).toContain(`provider local (openai): FAILED — api_key comes from ${ref('CHECK_KEY_NEVER_SET')}, which is not set`);
    expect(r.stdout).toMatch(/admin token: not set, so admin routes and the operator console are OFF/);
  });
});

describe('SPEC §8 embedded default config', () => {
  it('has only the mock demo models without provider keys', () => {
    const cfg = validateConfig(defaultConfigInput({}), {});
    expect(cfg.providers.map((p) => p.id)).toEqual(['mock']);
    expect(cfg.models.map((m) => m.id)).toContain('mock-chat');
    expect(cfg.models.map((m) => m.id)).not.toContain('gpt-5.4');
    expect(cfg.demo.enabled).toBe(true);
  });

  it('adds an openai provider and gpt models when OPENAI_API_KEY is set', () => {
    const env = { OPENAI_API_KEY: 'sk-openai-test-123' };
    const cfg = validateConfig(defaultConfigInput(env), env);
    const openai = cfg.providers.find((p) => p.id === 'openai');
    expect(openai).toMatchObject({ type: 'openai', base_url: 'https://api.openai.com/v1', api_key: 'sk-openai-test-123' });
    const ids = cfg.models.map((m) => m.id);
    expect(ids).toEqual(expect.arrayContaining(['gpt-5.4', 'mock-chat']));
    expect(cfg.models.find((m) => m.id === 'gpt-5.4')?.channels[0].provider).toBe('openai');
  });

  it('is what loadConfig returns when no file exists, honouring OPENAI_API_KEY', () => {
    const before = process.cwd();
    process.chdir(dir);
    try {
      const loaded = loadConfig({ env: { OPENAI_API_KEY: 'sk-openai-test-456', OPENAI_BASE_URL: 'http://127.0.0.1:1/v1' } });
      expect(loaded.path).toBeUndefined();
      expect(loaded.config.providers.find((p) => p.id === 'openai')).toMatchObject({ base_url: 'http://127.0.0.1:1/v1', api_key: 'sk-openai-test-456' });
      expect(loaded.config.models.map((m) => m.id)).toContain('gpt-5.4');
      expect(loadConfig({ env: {} }).config.providers.map((p) => p.id)).toEqual(['mock']);
    } finally {
      process.chdir(before);
    }
  });
});

describe('SPEC §8 CLI: tollgate init and tollgate check', () => {
  let upstream: { url: string; close(): Promise<void> };

  beforeAll(async () => {
    upstream = await startMockUpstream({ port: 0, settings: { tokensPerSecond: 0, faults: undefined, apiKey: 'check-key-1' } });
  });
  afterAll(async () => {
    await upstream?.close();
  });

  it('`tollgate init` writes a commented starter config that validates', async () => {
    const file = join(dir, 'init.yaml');
    const r = await runCli(['init', '--config', file]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain(file);
    const text = readFileSync(file, 'utf8');
    expect(text).toMatch(/^#/m);
    const cfg = loadConfig({ path: file, env: {} }).config;
    expect(cfg.providers.length).toBeGreaterThan(0);
    expect(cfg.models.length).toBeGreaterThan(0);
  });

  it('`tollgate init` refuses to overwrite an existing file', async () => {
    const file = join(dir, 'existing.yaml');
    writeFileSync(file, '# mine\n');
    const r = await runCli(['init', '--config', file]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('already exists');
    expect(readFileSync(file, 'utf8')).toBe('# mine\n');
  });

  it('an empty TOLLGATE_CONFIG names no file: ./tollgate.yaml is used', async () => {
    const cwd = join(dir, 'empty-variable');
    mkdirSync(cwd);
    writeFileSync(join(cwd, 'tollgate.yaml'), configText());
    const r = await runCli(['check'], { TOLLGATE_CONFIG: '' }, cwd);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^config tollgate\.yaml: valid — 1 provider\(s\), 1 model\(s\)/);
  });

  it('`tollgate check` reports a reachable provider and exits 0', async () => {
    const file = join(dir, 'check-ok.yaml');
    writeFileSync(
      file,
      lines(
        'providers:',
        '  - id: local',
        '    type: openai',
        `    base_url: ${upstream.url}`,
        `    api_key: "${ref('CHECK_UPSTREAM_KEY')}"`,
        'models:',
        '  - { id: local-chat, pricing: free, channels: [{ provider: local, upstream_model: mock-chat }] }',
      ),
    );
    const r = await runCli(['check', '--config', file], { CHECK_UPSTREAM_KEY: 'check-key-1' });
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toContain('valid');
    expect(r.stdout).toMatch(/provider local \(openai\): reachable/);
  });

  it('`tollgate check` reports an unreachable provider and exits 1', async () => {
    const probe = createServer();
    await new Promise<void>((ok) => probe.listen(0, '127.0.0.1', ok));
    const { port } = probe.address() as { port: number };
    await new Promise<void>((ok) => probe.close(() => ok()));
    const file = join(dir, 'check-closed.yaml');
    writeFileSync(
      file,
      lines(
        'providers:',
        '  - id: gone',
        '    type: openai',
        `    base_url: http://127.0.0.1:${port}/v1`,
        '    timeouts: { connect_ms: 1000, first_byte_ms: 1000 }',
        'models:',
        '  - { id: gone-chat, pricing: free, channels: [{ provider: gone, upstream_model: x }] }',
      ),
    );
    const r = await runCli(['check', '--config', file]);
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/provider gone \(openai\): FAILED/);
  });
});
