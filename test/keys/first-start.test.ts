// The first hour (issue 14, items 1 and 3): the embedded default keeps its admin token and
// demo keys across restarts and never revokes one; a second start on the same data while
// one runs changes nothing; `tollgate init` then `serve` leaves a working key and admin access.
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type CliProcess, call, childEnv, ensureDist, freePort, runCli, startCli } from '../helpers/money.js';

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

const SK = /\bsk-tg-[0-9A-Za-z]{38}\b/;
const MK = /\bmk-tg-[0-9A-Za-z]{38}\b/;
const ADM = /\badm-[A-Za-z0-9_-]{32}(?![A-Za-z0-9_-])/;
const READY = /More keys:[^\n]*\n[\s\S]*(Admin token|Admin routes)[^\n]*\n/;

async function serveIn(cwd: string, args: string[], env: Record<string, string> = {}): Promise<{ proc: CliProcess; url: string }> {
  const proc = startCli(['serve', ...args], { cwd, env: childEnv(env) });
  procs.push(proc);
  const url = (await proc.waitForOutput(/listening on (http:\/\/[^\s]+)/, 20_000))[1];
  await proc.waitForOutput(READY, 20_000);
  return { proc, url };
}

async function stop(proc: CliProcess): Promise<void> {
  proc.kill('SIGTERM');
  expect(await proc.exited).toBe(0);
}

const chat = (url: string, key: string) =>
  fetch(`${url}/v1/chat/completions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'mock-chat', messages: [{ role: 'user', content: 'echo: still here' }] }),
  });

const mode = (file: string) => statSync(file).mode & 0o777;

describe('first start on the embedded default: credentials are made once and kept', () => {
  let cwd: string;
  let port: number;
  let sk: string;
  let mk: string;
  let adminToken: string;
  let firstKeysFile: string;

  it('the first start prints a demo inference key, a demo management key and an admin token, and keeps them in 0600 files under ./data', async () => {
    cwd = tempDir('tollgate-first-');
    port = await freePort();
    const { proc, url } = await serveIn(cwd, ['--port', String(port)]);
    const out = proc.stdout;
    sk = out.match(SK)![0];
    mk = out.match(MK)![0];
    adminToken = out.match(ADM)![0];
    expect(out).toMatch(/Config: the embedded default/);
    expect(out).toContain('data/demo-keys.json');
    expect(out).toContain('data/admin-token');
    expect(mode(join(cwd, 'data', 'admin-token'))).toBe(0o600);
    expect(mode(join(cwd, 'data', 'demo-keys.json'))).toBe(0o600);
    expect(readFileSync(join(cwd, 'data', 'admin-token'), 'utf8').trim()).toBe(adminToken);
    firstKeysFile = readFileSync(join(cwd, 'data', 'demo-keys.json'), 'utf8');
    expect(JSON.parse(firstKeysFile)).toMatchObject({ org: 'demo', inference_key: sk, management_key: mk });
    expect((await chat(url, sk)).status).toBe(200);
    // The demo management key reaches the org's account routes; the admin token reaches /admin.
    expect((await call(url, mk, '/api/keys')).status).toBe(200);
    expect((await call(url, adminToken, '/admin/orgs')).status).toBe(200);
    await stop(proc);
  });

  it('a restart reuses the same keys and admin token, says where they are and how to mint more, and revokes nothing', async () => {
    expect(sk).toBeDefined();
    const { proc, url } = await serveIn(cwd, ['--port', String(port)]);
    const out = proc.stdout;
    expect(out.match(SK)![0]).toBe(sk);
    expect(out.match(MK)![0]).toBe(mk);
    expect(out).not.toMatch(ADM);
    expect(out).toContain('data/admin-token');
    expect(out).toMatch(/tollgate key create --org demo/);
    expect(out).toMatch(/POST \/api\/keys/);
    expect(readFileSync(join(cwd, 'data', 'demo-keys.json'), 'utf8')).toBe(firstKeysFile);
    expect((await chat(url, sk)).status).toBe(200);
    const keys = await call<{ data: Array<{ status: string; type: string }> }>(url, mk, '/api/keys');
    expect(keys.status).toBe(200);
    expect(keys.body.data.map((k) => k.status)).toEqual(keys.body.data.map(() => 'active'));
    expect(keys.body.data.filter((k) => k.type === 'inference')).toHaveLength(1);
    expect((await call(url, adminToken, '/admin/orgs')).status).toBe(200);
    await stop(proc);
  });

  it("a second start on the same data while one runs fails clearly and changes none of the first one's keys", async () => {
    expect(sk).toBeDefined();
    const { proc: first, url } = await serveIn(cwd, ['--port', String(port)]);
    // Same port, or another port on the same store: refused with a message that says why.
    const [samePort, otherPort] = await Promise.all([
      runCli(['serve', '--port', String(port)], { cwd, env: childEnv() }),
      runCli(['serve', '--port', '0'], { cwd, env: childEnv() }),
    ]);
    for (const r of [samePort, otherPort]) {
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/already in use|Another Tollgate instance is already serving this store/);
      expect(r.stdout).not.toMatch(SK);
    }
    expect(readFileSync(join(cwd, 'data', 'demo-keys.json'), 'utf8')).toBe(firstKeysFile);
    expect(readFileSync(join(cwd, 'data', 'admin-token'), 'utf8').trim()).toBe(adminToken);
    expect((await chat(url, sk)).status).toBe(200);
    const keys = await call<{ data: Array<{ status: string }> }>(url, mk, '/api/keys');
    expect(keys.status).toBe(200);
    expect(keys.body.data.every((k) => k.status === 'active')).toBe(true);
    expect((await call(url, adminToken, '/admin/orgs')).status).toBe(200);
    await stop(first);
  });

  it('a demo key revoked by its owner is replaced on the next start, and no other key is touched', async () => {
    expect(sk).toBeDefined();
    const { proc, url } = await serveIn(cwd, ['--port', String(port)]);
    const list = await call<{ data: Array<{ id: string; type: string }> }>(url, mk, '/api/keys');
    const skId = list.body.data.find((k) => k.type === 'inference')!.id;
    expect((await call(url, mk, `/api/keys/${skId}`, { method: 'DELETE' })).status).toBe(200);
    await stop(proc);
    const again = await serveIn(cwd, ['--port', String(port)]);
    const fresh = again.proc.stdout.match(SK)![0];
    expect(fresh).not.toBe(sk);
    expect(again.proc.stdout.match(MK)![0]).toBe(mk);
    expect((await chat(again.url, fresh)).status).toBe(200);
    await stop(again.proc);
  });
});

describe('first start with TOLLGATE_ADMIN_TOKEN set', () => {
  it('uses that token and writes no admin token file', async () => {
    const cwd = tempDir('tollgate-envtoken-');
    const { proc, url } = await serveIn(cwd, ['--port', '0'], { TOLLGATE_ADMIN_TOKEN: 'operator-chosen-token-1' });
    expect(proc.stdout).not.toMatch(ADM);
    expect(proc.stdout).not.toContain('operator-chosen-token-1');
    expect(() => statSync(join(cwd, 'data', 'admin-token'))).toThrow();
    expect((await call(url, 'operator-chosen-token-1', '/admin/orgs')).status).toBe(200);
    await stop(proc);
  });
});

describe('tollgate init leads to a working gateway', () => {
  it('after init, a bare serve runs tollgate.yaml, says so, and leaves a working inference key and admin access', async () => {
    const cwd = tempDir('tollgate-init-');
    const init = await runCli(['init'], { cwd, env: childEnv() });
    expect(init.code, init.stderr).toBe(0);
    expect(init.stdout).toMatch(/tollgate serve/);
    const check = await runCli(['check'], { cwd, env: childEnv() });
    expect(check.code, check.stdout + check.stderr).toBe(0);
    expect(check.stdout).toMatch(/admin token: not set; serve uses the one in \.\/data\/admin-token/);
    const { proc, url } = await serveIn(cwd, ['--port', '0']);
    expect(proc.stdout).toMatch(/Config: tollgate\.yaml/);
    const sk = proc.stdout.match(SK)![0];
    const adminToken = proc.stdout.match(ADM)![0];
    expect((await chat(url, sk)).status).toBe(200);
    expect((await call(url, adminToken, '/admin/orgs')).status).toBe(200);
    await stop(proc);
  });
});
