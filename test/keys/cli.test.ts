// SPEC §8 CLI: `tollgate org create / org credit / key create` write to the configured
// storage and print each key once; a server on the same config accepts them; and a bare
// `tollgate serve` in an empty directory starts on the embedded default with a working curl line.
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type CliProcess, call, childEnv, dumpSqlite, ensureDist, freePort, ROOT, runCli, startCli } from '../helpers/money.js';

const ADMIN = 'cli-test-admin-token';
const dirs: string[] = [];
const procs: CliProcess[] = [];

beforeAll(async () => {
  await ensureDist();
});

afterAll(async () => {
  for (const p of procs) p.kill('SIGKILL');
  await Promise.all(procs.map((p) => p.exited));
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function tempDir(prefix: string): string {
  const d = mkdtempSync(join(tmpdir(), prefix));
  dirs.push(d);
  return d;
}

const SK = /\bsk-tg-[0-9A-Za-z]{38}\b/g;
const MK = /\bmk-tg-[0-9A-Za-z]{38}\b/g;

describe('SPEC §8 CLI administration', () => {
  let dir: string;
  let configFile: string;
  let mk: string;
  let sk: string;

  beforeAll(() => {
    dir = tempDir('tollgate-cli-');
    configFile = join(dir, 'tollgate.yaml');
    writeFileSync(
      configFile,
      [
        'server:',
        '  host: 127.0.0.1',
        '  port: 0',
        `  admin_token: ${ADMIN}`,
        '  max_event_loop_lag_ms: 600000',
        'storage:',
        `  url: "sqlite://${join(dir, 'tollgate.db')}"`,
        'providers:',
        '  - { id: mock, type: mock }',
        'models:',
        '  - id: mock-chat',
        '    pricing: { input_per_mtok: 1, output_per_mtok: 2 }',
        '    channels: [{ provider: mock, upstream_model: mock-chat }]',
        '',
      ].join('\n'),
    );
  });

  it('org create prints the management key once', async () => {
    const r = await runCli(['org', 'create', 'acme', '--credits', '5', '--config', configFile]);
    expect(r.code, r.stderr).toBe(0);
    const keys = r.stdout.match(MK) ?? [];
    expect(keys).toHaveLength(1);
    mk = keys[0]!;
    expect(r.stdout).toMatch(/acme/);
    expect(r.stdout).toMatch(/shown once/i);
  });

  it('org credit adds credit to the named org; an unknown org or a taken name is refused', async () => {
    const [r, missing, again] = await Promise.all([
      runCli(['org', 'credit', 'acme', '2.5', '--config', configFile]),
      runCli(['org', 'credit', 'nobody', '1', '--config', configFile]),
      runCli(['org', 'create', 'acme', '--config', configFile]),
    ]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/7\.5/);
    expect(again.code).not.toBe(0);
    expect(again.stderr).toMatch(/already exists/);
    expect(again.stdout).not.toMatch(MK);
    expect(missing.code).not.toBe(0);
    expect(missing.stderr).toMatch(/no org named "nobody"/);
  });

  it('key create prints an inference key with the requested budget and rpm', async () => {
    const r = await runCli(['key', 'create', '--org', 'acme', '--budget', '1', '--rpm', '10', '--config', configFile]);
    expect(r.code, r.stderr).toBe(0);
    const keys = r.stdout.match(SK) ?? [];
    expect(keys).toHaveLength(1);
    sk = keys[0]!;
    expect(r.stdout).not.toMatch(MK);
  });

  it('a server started on the same config accepts those keys and shows the balance of $7.50', async () => {
    expect(mk).toBeDefined();
    expect(sk).toBeDefined();
    const proc = startCli(['serve', '--config', configFile], { cwd: dir });
    procs.push(proc);
    const url = (await proc.waitForOutput(/listening on (http:\/\/[^\s]+)/, 20_000))[1];
    const bal = await call<{ balance_usd: number; key: { budget_usd: number; spend_usd: number; rpm: number } }>(url, sk, '/api/balance');
    expect(bal.status).toBe(200);
    expect(bal.body.balance_usd).toBe(7.5);
    expect(bal.body.key).toMatchObject({ budget_usd: 1, spend_usd: 0, rpm: 10 });
    const res = await fetch(`${url}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${sk}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'mock-chat', messages: [{ role: 'user', content: 'echo: hello from the cli key' }] }),
    });
    expect(res.status).toBe(200);
    expect(((await res.json()) as { choices: Array<{ message: { content: string } }> }).choices[0].message.content).toBe('hello from the cli key');
    const keys = await call<{ data: Array<{ type: string; budget_usd: number | null; rpm: number | null }> }>(url, mk, '/api/keys');
    expect(keys.status).toBe(200);
    expect(keys.body.data.find((k) => k.type === 'inference')).toMatchObject({ budget_usd: 1, rpm: 10 });
    const orgs = await call<{ data: Array<{ name: string; balance_usd: number }> }>(url, ADMIN, '/admin/orgs');
    expect(orgs.body.data.find((o) => o.name === 'acme')!.balance_usd).toBeLessThan(7.5);
    proc.kill('SIGTERM');
    expect(await proc.exited).toBe(0);
    // Only hashes were stored.
    const dump = dumpSqlite(join(dir, 'tollgate.db'));
    expect(dump).not.toContain(mk);
    expect(dump).not.toContain(sk);
  });
  it('org list shows each org with its id and balance', async () => {
    const r = await runCli(['org', 'list', '--config', configFile]);
    expect(r.code, r.stderr).toBe(0);
    const line = r.stdout.split('\n').find((l) => l.startsWith('acme'))!;
    expect(line).toMatch(/org_[A-Za-z0-9_-]+/);
    expect(line).toMatch(/\$\d+\.\d{2}/);
  });

  it('key create --management prints a management key; key list shows prefixes and types, never a whole key', async () => {
    const made = await runCli(['key', 'create', '--org', 'acme', '--management', '--name', 'second admin', '--config', configFile]);
    expect(made.code, made.stderr).toBe(0);
    expect(made.stdout.match(MK) ?? []).toHaveLength(1);
    const list = await runCli(['key', 'list', '--org', 'acme', '--config', configFile]);
    expect(list.code, list.stderr).toBe(0);
    expect(list.stdout).toMatch(/management .*second admin/);
    expect(list.stdout).toMatch(/inference/);
    expect(list.stdout).not.toMatch(SK);
    expect(list.stdout).not.toMatch(MK);
  });

  it('key rotate issues a replacement and key revoke revokes, each by id', async () => {
    const list = await runCli(['key', 'list', '--org', 'acme', '--config', configFile]);
    const skId = list.stdout.split('\n').find((l) => / inference /.test(l))!.split(/\s+/)[0];
    const rotated = await runCli(['key', 'rotate', skId, '--overlap', '60', '--config', configFile]);
    expect(rotated.code, rotated.stderr).toBe(0);
    expect(rotated.stdout.match(SK) ?? []).toHaveLength(1);
    expect(rotated.stdout).toMatch(/stops working at \d{4}-/);
    const revoked = await runCli(['key', 'revoke', skId, '--config', configFile]);
    expect(revoked.code, revoked.stderr).toBe(0);
    expect(revoked.stdout).toMatch(/Revoked key/);
    const active = await runCli(['key', 'list', '--org', 'acme', '--config', configFile]);
    expect(active.stdout).not.toContain(skId);
    const all = await runCli(['key', 'list', '--org', 'acme', '--all', '--config', configFile]);
    expect(all.stdout.split('\n').find((l) => l.startsWith(skId))).toMatch(/revoked/);
    const unknown = await runCli(['key', 'revoke', 'key_nope', '--config', configFile]);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toMatch(/no key with id "key_nope"/);
  }, 90_000);

  it('records every change made with the CLI in the audit trail, with actor cli and no key in it', async () => {
    const dump = dumpSqlite(join(dir, 'tollgate.db'));
    const section = dump.split('\n## ').find((p) => p.startsWith('audit_log\n')) ?? '';
    const rows = JSON.parse(section.slice('audit_log\n'.length) || '[]') as Array<{ actor: string; action: string; before: string | null; after: string | null }>;
    const cli = rows.filter((r) => r.actor === 'cli');
    const actions = cli.map((r) => r.action).sort();
    for (const a of ['org.create', 'credit.grant', 'key.create', 'management_key.mint', 'key.rotate', 'key.revoke']) expect(actions, a).toContain(a);
    // The refused commands (unknown org, taken name) recorded nothing: one org was created.
    expect(cli.filter((r) => r.action === 'org.create')).toHaveLength(1);
    for (const r of cli) expect(`${r.before}${r.after}`).not.toMatch(/(sk|mk)-tg-[0-9A-Za-z]{38}/);
  });

  it('refuses --rpm 0.5 and --rpm 0 (and other bad numbers) with a clear message, creating nothing', async () => {
    const before = (await runCli(['key', 'list', '--org', 'acme', '--all', '--config', configFile])).stdout;
    const results = await Promise.all([
      runCli(['key', 'create', '--org', 'acme', '--rpm', '0.5', '--config', configFile]),
      runCli(['key', 'create', '--org', 'acme', '--rpm', '0', '--config', configFile]),
      runCli(['key', 'create', '--org', 'acme', '--tpm', 'lots', '--config', configFile]),
      runCli(['key', 'create', '--org', 'acme', '--budget', '-1', '--config', configFile]),
      runCli(['org', 'credit', 'acme', '0', '--config', configFile]),
      runCli(['key', 'create', '--org', 'acme', '--management', '--rpm', '5', '--config', configFile]),
    ]);
    for (const r of results) {
      expect(r.code).not.toBe(0);
      expect(r.stdout).not.toMatch(SK);
    }
    expect(results[0].stderr).toMatch(/--rpm.*0\.5.*whole number/s);
    expect(results[1].stderr).toMatch(/--rpm.*at least 1/s);
    expect(results[2].stderr).toMatch(/--tpm.*lots/s);
    expect(results[3].stderr).toMatch(/--budget.*zero or more/s);
    expect(results[4].stderr).toMatch(/above 0/);
    expect(results[5].stderr).toMatch(/inference keys/);
    expect((await runCli(['key', 'list', '--org', 'acme', '--all', '--config', configFile])).stdout).toBe(before);
  }, 90_000);
});

describe('org names', () => {
  it('org create applies the rule of POST /admin/orgs: trimmed, not empty, at most 200 characters', async () => {
    const cwd = tempDir('tollgate-names-');
    for (const bad of ['', '   ', 'a'.repeat(201)]) {
      const r = await runCli(['org', 'create', bad], { cwd });
      expect(r.code, bad).toBe(1);
      expect(r.stderr).toMatch(/expected an organisation name/);
    }
    expect((await runCli(['org', 'list'], { cwd })).stdout).toMatch(/^No organisations yet/);
    const spaced = await runCli(['org', 'create', '  acme  '], { cwd });
    expect(spaced.code, spaced.stderr).toBe(0);
    expect(spaced.stdout).toContain('Created org "acme"');
    expect((await runCli(['org', 'credit', 'acme', '1'], { cwd })).code).toBe(0);
  }, 90_000);
});

describe('CLI help and version', () => {
  it('--version prints the package version', async () => {
    const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string };
    const r = await runCli(['--version']);
    expect(r.code).toBe(0);
    expect(r.stdout.trim()).toBe(pkg.version);
  });

  it('a mistyped command is named as unknown, with the nearest command, and starts nothing', async () => {
    const cwd = tempDir('tollgate-typo-');
    const [typo, unknown, extra] = await Promise.all([runCli(['chek'], { cwd }), runCli(['frobnicate'], { cwd }), runCli(['serve', 'now'], { cwd })]);
    expect(typo.code).toBe(1);
    expect(typo.stderr).toContain("error: unknown command 'chek' (did you mean check?)");
    expect(typo.stderr).toContain('Commands:');
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toContain("error: unknown command 'frobnicate'");
    expect(unknown.stderr).not.toContain('did you mean');
    expect(extra.code).toBe(1);
    expect(extra.stderr).toContain("error: serve takes no arguments, got 'now'");
    expect(existsSync(join(cwd, 'data'))).toBe(false);
  }, 60_000);

  it('every command and subcommand has a description in --help', async () => {
    const helps = await Promise.all([runCli(['--help']), runCli(['org', '--help']), runCli(['key', '--help'])]);
    const names: string[] = [];
    for (const h of helps) {
      expect(h.code).toBe(0);
      const commands = h.stdout.split('Commands:')[1].split('\n').filter((l) => /^ {2}\S/.test(l));
      for (const line of commands) {
        const [name, description] = line.trim().split(/\s{2,}/);
        names.push(name.split(' ')[0]);
        expect(description, `no description for "${line.trim()}"`).toBeTruthy();
      }
    }
    expect(names).toEqual(expect.arrayContaining(['serve', 'init', 'check', 'org', 'key', 'mock-upstream', 'create', 'list', 'credit', 'revoke', 'rotate']));
  }, 90_000);
});

describe('SPEC §8 default start without a config', () => {
  it('serve in an empty directory creates ./data/tollgate.db and prints the address, a demo key and a curl line that works', async () => {
    const cwd = tempDir('tollgate-default-');
    const port = await freePort();
    const proc = startCli(['serve', '--port', String(port)], { cwd, env: childEnv() });
    procs.push(proc);
    await proc.waitForOutput(/curl .*'\s*$/m, 20_000);
    const out = proc.stdout;
    expect(out).toContain(`http://127.0.0.1:${port}`);
    expect(existsSync(join(cwd, 'data', 'tollgate.db'))).toBe(true);
    const keys = out.match(SK) ?? [];
    expect(keys.length).toBeGreaterThanOrEqual(1);
    const curl = out.split('\n').find((l) => l.trim().startsWith('curl '))!;
    expect(curl).toBeDefined();
    // curl URL -H "Name: value" ... -d '{json}'
    const target = /curl\s+(\S+)/.exec(curl)![1];
    const headers: Record<string, string> = {};
    for (const m of curl.matchAll(/-H\s+"([^:"]+):\s*([^"]*)"/g)) headers[m[1].toLowerCase()] = m[2];
    const data = /-d\s+'([^']*)'/.exec(curl)![1];
    expect(headers.authorization).toBe(`Bearer ${keys[0]}`);
    expect(target).toBe(`http://127.0.0.1:${port}/v1/chat/completions`);
    const res = await fetch(target, { method: 'POST', headers, body: data });
    const text = await res.text();
    expect(res.status, text).toBe(200);
    const body = JSON.parse(text) as { object: string; choices: Array<{ message: { content: string } }>; usage: { completion_tokens: number } };
    expect(body.object).toBe('chat.completion');
    expect(body.choices[0].message.content.length).toBeGreaterThan(0);
    expect(body.usage.completion_tokens).toBeGreaterThan(0);
    proc.kill('SIGTERM');
    expect(await proc.exited).toBe(0);
  });
});
