// Shutdown always ends: with stdout a broken pipe, SIGTERM still drains, flushes every record
// and exits within the grace period + 5 s; a second signal ends open streams at once, bills
// them and exits without waiting for the grace period.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openStore } from '../../src/store/index.js';
import { allLedger, allUsage, type CliProcess, call, ensureDist, sseContent, startCli } from '../helpers/money.js';

const ADMIN = 'hostile-shutdown-admin-token';
const dirs: string[] = [];
const procs: CliProcess[] = [];

beforeAll(async () => {
  await ensureDist();
});
afterAll(() => {
  for (const p of procs) p.kill('SIGKILL');
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

async function startServer(graceS: number): Promise<{ proc: CliProcess; url: string; db: string }> {
  const dir = mkdtempSync(join(tmpdir(), 'tollgate-hostile-shutdown-'));
  dirs.push(dir);
  const db = join(dir, 'tollgate.db');
  const config = {
    server: { host: '127.0.0.1', port: 0, admin_token: ADMIN, shutdown_grace_s: graceS, max_event_loop_lag_ms: 600_000, log_level: 'info' },
    storage: { url: `sqlite://${db}` },
    providers: [{ id: 'mock', type: 'mock', tokens_per_second: 10 }],
    models: [{ id: 'mock-chat', context_window: 32000, max_output_tokens: 4096, pricing: { input_per_mtok: 1, output_per_mtok: 2 }, channels: [{ provider: 'mock', upstream_model: 'mock-chat' }] }],
    limits: { key_rpm: null },
    billing: { flush_interval_ms: 50 },
  };
  const file = join(dir, 'tollgate.yaml');
  writeFileSync(file, JSON.stringify(config));
  const proc = startCli(['serve', '--config', file], { cwd: dir });
  procs.push(proc);
  const m = await proc.waitForOutput(/listening on (http:\/\/[^\s]+)/, 20_000);
  return { proc, url: m[1], db };
}

async function tenant(url: string): Promise<{ orgId: string; key: string }> {
  const org = await call<{ org: { id: string }; management_key: string }>(url, ADMIN, '/admin/orgs', { body: { name: 'shutdown', credits_usd: 10 } });
  const key = await call<{ key: string }>(url, org.body.management_key, '/api/keys', { body: {} });
  return { orgId: org.body.org.id, key: key.body.key };
}

async function books(db: string, orgId: string) {
  const store = await openStore(`sqlite://${db}`);
  try {
    return { usage: await allUsage(store, orgId), ledger: await allLedger(store, orgId) };
  } finally {
    await store.close();
  }
}

/** Resolves with the exit code, or with "still running" once `ms` have passed. */
function exitWithin(proc: CliProcess, ms: number): Promise<number | string | null> {
  return Promise.race([proc.exited, new Promise<string>((r) => setTimeout(() => r('still running'), ms).unref())]);
}

const chatBody = (content: string, stream = false) => JSON.stringify({ model: 'mock-chat', stream, messages: [{ role: 'user', content }] });

describe('shutdown with stdout a broken pipe', () => {
  it('drains, writes every usage row and exits 0 within the grace period + 5 s', async () => {
    const graceS = 1;
    const { proc, url, db } = await startServer(graceS);
    const { orgId, key } = await tenant(url);
    proc.child.stdout!.destroy();
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) {
      const res = await fetch(`${url}/v1/chat/completions`, { method: 'POST', headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json', 'x-mock-words': '3' }, body: chatBody(`before ${i}`) });
      expect(res.status).toBe(200);
      await res.text();
      ids.push(res.headers.get('x-tollgate-request-id')!);
    }
    proc.kill('SIGTERM');
    expect(await exitWithin(proc, graceS * 1000 + 5000)).toBe(0);
    const { usage, ledger } = await books(db, orgId);
    expect(usage.map((u) => u.request_id).sort()).toEqual([...ids].sort());
    expect(ledger.filter((l) => l.kind === 'charge')).toHaveLength(3);
  });
});

describe('a second signal', () => {
  it('ends open streams at once, bills them and exits without waiting for the grace period', async () => {
    const graceS = 60;
    const { proc, url, db } = await startServer(graceS);
    const { orgId, key } = await tenant(url);
    // 400 words at 10 tokens/s: this stream would outlive any test unless it is ended.
    const res = await fetch(`${url}/v1/chat/completions`, { method: 'POST', headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json', 'x-mock-words': '400' }, body: chatBody('long', true) });
    expect(res.status).toBe(200);
    const reader = res.body!.getReader();
    const dec = new TextDecoder();
    let text = '';
    const contentSoFar = () => sseContent(text.slice(0, text.lastIndexOf('\n\n') + 2));
    while (contentSoFar().length === 0) text += dec.decode((await reader.read()).value, { stream: true });
    proc.kill('SIGTERM');
    await proc.waitForOutput(/shutting down/, 5000);
    // The first signal lets the stream go on: more content arrives while the process drains.
    const before = contentSoFar();
    while (contentSoFar() === before) {
      const step = await reader.read();
      expect(step.done).toBe(false);
      text += dec.decode(step.value, { stream: true });
    }
    const rest = (async () => {
      for (;;) {
        const step = await reader.read().catch(() => ({ done: true, value: undefined }));
        if (step.done) return;
        text += dec.decode(step.value, { stream: true });
      }
    })();
    proc.kill('SIGTERM');
    const code = await exitWithin(proc, 10_000);
    expect(code).not.toBe('still running');
    await rest;
    const { usage, ledger } = await books(db, orgId);
    expect(usage).toHaveLength(1);
    expect(usage[0].completion_tokens).toBeGreaterThan(0);
    expect(ledger.filter((l) => l.kind === 'charge')).toHaveLength(1);
  });
});
