// SPEC §6 "On SIGTERM Tollgate stops accepting, finishes or cleanly ends open requests and
// streams (configurable grace period), bills them, and flushes every record before it exits",
// against the real server process.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openStore } from '../../src/store/index.js';
import { allLedger, allUsage, type CliProcess, call, ensureDist, sseContent, sseData, startCli, sumMicros } from '../helpers/money.js';

const ADMIN = 'shutdown-test-admin-token';
const GRACE_S = 5;
const dirs: string[] = [];
const procs: CliProcess[] = [];

beforeAll(async () => {
  await ensureDist();
});

afterAll(() => {
  for (const p of procs) p.kill('SIGKILL');
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

async function startServer(): Promise<{ proc: CliProcess; url: string; db: string }> {
  const dir = mkdtempSync(join(tmpdir(), 'tollgate-shutdown-'));
  dirs.push(dir);
  const db = join(dir, 'tollgate.db');
  const config = {
    server: { host: '127.0.0.1', port: 0, admin_token: ADMIN, shutdown_grace_s: GRACE_S, max_event_loop_lag_ms: 600_000 },
    storage: { url: `sqlite://${db}` },
    providers: [{ id: 'mock', type: 'mock', tokens_per_second: 20 }],
    models: [{ id: 'mock-chat', context_window: 32000, max_output_tokens: 4096, pricing: { input_per_mtok: 1, output_per_mtok: 2 }, channels: [{ provider: 'mock', upstream_model: 'mock-chat' }] }],
    limits: { key_rpm: null },
    billing: { flush_interval_ms: 50 },
  };
  const file = join(dir, 'tollgate.yaml');
  writeFileSync(file, JSON.stringify(config, null, 2));
  const proc = startCli(['serve', '--config', file], { cwd: dir });
  procs.push(proc);
  const m = await proc.waitForOutput(/listening on (http:\/\/[^\s]+)/, 20_000);
  return { proc, url: m[1], db };
}

interface StreamResult {
  text: string;
  done: boolean;
  networkError: string | undefined;
  endedAt: number;
}

/** Opens a stream and resolves `started` at its first content; `finished` when it ends one way or another. */
function openStream(url: string, key: string, words: number, i: number): { started: Promise<void>; finished: Promise<StreamResult> } {
  let markStarted!: () => void;
  let failStart!: (e: Error) => void;
  const started = new Promise<void>((resolve, reject) => {
    markStarted = resolve;
    failStart = reject;
  });
  const finished = (async (): Promise<StreamResult> => {
    let text = '';
    let networkError: string | undefined;
    let begun = false;
    try {
      const res = await fetch(`${url}/v1/chat/completions`, {
        method: 'POST',
        headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json', 'x-mock-words': String(words) },
        body: JSON.stringify({ model: 'mock-chat', stream: true, messages: [{ role: 'user', content: `stream number ${i}` }] }),
      });
      if (res.status !== 200) throw new Error(`stream ${i}: HTTP ${res.status} ${await res.text()}`);
      const reader = res.body!.getReader();
      const dec = new TextDecoder();
      for (;;) {
        const step = await reader.read();
        if (step.done) break;
        text += dec.decode(step.value, { stream: true });
        if (!begun && sseContent(text.slice(0, text.lastIndexOf('\n\n') + 2)).length > 0) {
          begun = true;
          markStarted();
        }
      }
    } catch (err) {
      networkError = (err as Error).message;
      if (!begun) failStart(err as Error);
    }
    if (!begun) failStart(new Error(`stream ${i} ended before any content: ${text}`));
    return { text, done: sseData(text).includes('[DONE]'), networkError, endedAt: Date.now() };
  })();
  return { started, finished };
}

async function setupTenant(url: string): Promise<{ orgId: string; key: string }> {
  const org = await call<{ org: { id: string }; management_key: string }>(url, ADMIN, '/admin/orgs', { body: { name: 'shutdown-org', credits_usd: 10 } });
  expect(org.status).toBe(201);
  const key = await call<{ key: string }>(url, org.body.management_key, '/api/keys', { body: { name: 'streams' } });
  expect(key.status).toBe(201);
  return { orgId: org.body.org.id, key: key.body.key };
}

async function readyzAfterSigterm(url: string): Promise<string> {
  try {
    const res = await fetch(`${url}/readyz`);
    return String(res.status);
  } catch {
    return 'refused';
  }
}

async function storedBooks(db: string, orgId: string) {
  const store = await openStore(`sqlite://${db}`);
  try {
    const usage = await allUsage(store, orgId);
    const ledger = await allLedger(store, orgId);
    const balance = (await store.balances()).get(orgId);
    return { usage, ledger, balance };
  } finally {
    await store.close();
  }
}

describe('SPEC §6 graceful shutdown', () => {
  it('on SIGTERM stops accepting, lets 50 open streams finish, bills them all and exits 0', async () => {
    const { proc, url, db } = await startServer();
    const { orgId, key } = await setupTenant(url);
    const streams = Array.from({ length: 50 }, (_, i) => openStream(url, key, 30, i));
    await Promise.all(streams.map((s) => s.started));
    const signalled = Date.now();
    proc.kill('SIGTERM');
    // The signal is handled on the server's next turn: its log says when draining began.
    await proc.waitForOutput(/shutting down/, 5000);
    const ready = await readyzAfterSigterm(url);
    expect(Date.now() - signalled).toBeLessThan(1000);
    expect(['503', 'refused']).toContain(ready);
    // New inference work is refused while draining.
    const late = await fetch(`${url}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'mock-chat', messages: [{ role: 'user', content: 'too late' }] }),
    }).then(
      (r) => r.status,
      () => 'refused',
    );
    expect([503, 'refused']).toContain(late);
    const results = await Promise.all(streams.map((s) => s.finished));
    for (const r of results) {
      expect(r.networkError).toBeUndefined();
      expect(r.done).toBe(true);
      expect(r.endedAt - signalled).toBeLessThan(GRACE_S * 1000 + 1000);
    }
    const code = await proc.exited;
    expect(code, proc.stderr).toBe(0);
    const { usage, ledger, balance } = await storedBooks(db, orgId);
    const streamed = usage.filter((u) => u.stream);
    expect(streamed).toHaveLength(50);
    expect(new Set(streamed.map((u) => u.request_id)).size).toBe(50);
    expect(usage).toHaveLength(50);
    for (const u of streamed) expect(u).toMatchObject({ status: 200, estimated: false });
    expect(ledger.filter((l) => l.kind === 'charge')).toHaveLength(50);
    expect(balance).toBe(sumMicros(ledger));
    expect(balance).toBeLessThan(10_000_000);
  });

  describe('streams still open when the grace period ends', () => {
    let signalled = 0;
    let code: number | string | null = null;
    let stderr = '';
    let exitedAfter = 0;
    let results: StreamResult[] = [];
    let books: Awaited<ReturnType<typeof storedBooks>>;

    beforeAll(async () => {
      const { proc, url, db } = await startServer();
      const { orgId, key } = await setupTenant(url);
      // 400 words at 20 tokens/s take ~20 s: far longer than the 5 s grace period.
      const streams = Array.from({ length: 5 }, (_, i) => openStream(url, key, 400, i));
      await Promise.all(streams.map((s) => s.started));
      signalled = Date.now();
      proc.kill('SIGTERM');
      results = await Promise.all(streams.map((s) => s.finished));
      code = await proc.exited;
      exitedAfter = Date.now() - signalled;
      stderr = proc.stderr;
      books = await storedBooks(db, orgId);
    }, 40_000);

    it('cuts them at the end of the grace period and exits 0', () => {
      expect(code, stderr).toBe(0);
      expect(exitedAfter).toBeLessThan(GRACE_S * 1000 + 5000);
      for (const r of results) {
        expect(r.done).toBe(false);
        expect(r.endedAt - signalled).toBeGreaterThanOrEqual(GRACE_S * 1000 - 500);
        expect(r.endedAt - signalled).toBeLessThan(GRACE_S * 1000 + 2000);
      }
    });

    it('bills the tokens each of them delivered before exiting, keeping balance == sum(ledger)', () => {
      const { usage, ledger, balance } = books;
      expect(usage).toHaveLength(5);
      for (const u of usage) {
        expect(u.stream).toBe(true);
        expect(u.completion_tokens).toBeGreaterThan(0);
        expect(u.completion_tokens).toBeLessThan(400);
        expect(u.cost_micros).toBe(Math.round(u.prompt_tokens * 1 + u.completion_tokens * 2));
      }
      expect(ledger.filter((l) => l.kind === 'charge')).toHaveLength(5);
      expect(balance).toBe(sumMicros(ledger));
    });

    it('ends them cleanly: an error event saying the gateway is shutting down, then a proper end of the response', () => {
      for (const r of results) {
        expect(r.networkError, 'the stream was cut without a proper end').toBeUndefined();
        const data = sseData(r.text);
        const last = JSON.parse(data[data.length - 1]) as { error?: { message: string; code: string } };
        expect(last.error?.message).toMatch(/shut/i);
      }
    });
  });
});
