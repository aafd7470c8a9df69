// SPEC §6: a stream that had delivered tokens when the process was killed (kill -9) is billed
// for them after the restart: open streams leave a checkpoint in the write-ahead spool, which
// the next start writes to the store when no final row superseded it.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openStore } from '../../src/store/index.js';
import { ensureFreshDist } from '../helpers/cluster.js';
import { createTenant, readBooks, reportedBalance, serve, sumLedger, writeDeployment } from './support.js';

const dir = mkdtempSync(join(tmpdir(), 'tollgate-midstream-'));
const storageUrl = `sqlite://${join(dir, 'tollgate.db')}`;
// A slow mock: 40 tokens a second, so the stream is surely still open when it is killed.
const configFile = writeDeployment(dir, storageUrl, { providers: [{ id: 'mock', type: 'mock', tokens_per_second: 40 }] });

beforeAll(async () => {
  await ensureFreshDist();
}, 180_000);

afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('SPEC §6 a stream cut by kill -9 is billed for what it delivered', () => {
  it('after the restart the stream has one usage row and one charge, counted from what was streamed; balance == Σ ledger', async () => {
    let running = await serve({ dir, configFile });
    const tenant = await createTenant(running.url, 10);
    const res = await fetch(`${running.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${tenant.key}`, 'content-type': 'application/json', 'x-mock-words': '2000' },
      body: JSON.stringify({ model: 'mock-chat', max_tokens: 4000, stream: true, messages: [{ role: 'user', content: 'a long answer please' }] }),
    });
    expect(res.status).toBe(200);
    const requestId = res.headers.get('x-request-id')!;
    // Read until well past a checkpoint, then kill the gateway mid-stream.
    const reader = res.body!.getReader();
    const decoder = new TextDecoder();
    let seen = 0;
    while (seen < 150) {
      const { value, done } = await reader.read();
      if (done) break;
      seen += (decoder.decode(value).match(/"content":/g) ?? []).length;
    }
    expect(seen).toBeGreaterThanOrEqual(150);
    running.proc.kill('SIGKILL');
    expect(await running.proc.exited).toBe('SIGKILL');
    await reader.cancel().catch(() => {});

    running = await serve({ dir, configFile });
    try {
      const store = await openStore(storageUrl);
      try {
        const books = await readBooks(store, tenant.orgId);
        const rows = books.usage.filter((u) => u.request_id === requestId);
        expect(rows).toHaveLength(1);
        expect(rows[0].completion_tokens).toBeGreaterThanOrEqual(64);
        expect(rows[0].cost_micros).toBeGreaterThan(0);
        expect(books.ledger.filter((l) => l.request_id === requestId)).toHaveLength(1);
        expect(await reportedBalance(running.url, tenant.mk)).toBe(sumLedger(books));
      } finally {
        await store.close();
      }
    } finally {
      running.proc.kill('SIGTERM');
      await running.proc.exited;
    }
  });
});
