// SPEC §6 "every charge durable before the response completes", when the store is unreachable
// at shutdown: the gateway still exits after its grace period, the rows wait in its spool, and
// the next start writes every one of them exactly once.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { openStore } from '../../src/store/index.js';
import { ensureFreshDist, startTcpProxy } from '../helpers/cluster.js';
import { countPerRequest, createTenant, postgresDatabase, readBooks, reportedBalance, serve, sumLedger, wave, writeDeployment } from './support.js';

const CREDITS_USD = 100;

beforeAll(async () => {
  await ensureFreshDist();
}, 180_000);

describe('SPEC §6 money: rows spooled while the store is down reach it once after a restart', () => {
  it('SIGTERM with Postgres cut off exits with the rows in the spool; the next start writes each row once and balance == sum(ledger)', async (ctx) => {
    const db = await postgresDatabase('the store-outage shutdown test');
    if (!db) {
      ctx.skip();
      return;
    }
    const pgUrl = new URL(db.url);
    const proxy = await startTcpProxy(pgUrl.hostname, Number(pgUrl.port || 5432));
    const viaProxy = new URL(db.url);
    viaProxy.port = String(proxy.port);
    const dir = mkdtempSync(join(tmpdir(), 'tollgate-outage-'));
    const d = { dir, configFile: writeDeployment(dir, viaProxy.toString()) };
    const books = await openStore(db.url);
    let running = await serve(d);
    try {
      const tenant = await createTenant(running.url, CREDITS_USD);
      const before = await wave(running.url, tenant.key, 20);
      expect(before).toHaveLength(20);

      await proxy.cut();
      // The request path needs no store: these are answered while it is unreachable.
      const during = await wave(running.url, tenant.key, 40);
      expect(during).toHaveLength(40);
      running.proc.kill('SIGTERM');
      expect(await running.proc.exited).toBe(0);

      const answered = [...before, ...during];
      const stranded = countPerRequest(await readBooks(books, tenant.orgId), during);
      expect(stranded.missingUsage).toHaveLength(during.length);

      await proxy.restore();
      running = await serve(d);
      const after = await readBooks(books, tenant.orgId);
      const check = countPerRequest(after, answered);
      expect(check.missingUsage).toEqual([]);
      expect(check.missingCharge).toEqual([]);
      expect(check.duplicated).toEqual([]);
      expect(after.usage).toHaveLength(answered.length);
      const sum = sumLedger(after);
      expect(sum).toBe(CREDITS_USD * 1_000_000 - after.usage.reduce((s, u) => s + u.cost_micros, 0));
      expect(await reportedBalance(running.url, tenant.mk)).toBe(sum);

      // A second restart finds nothing left to replay and changes nothing.
      running.proc.kill('SIGTERM');
      expect(await running.proc.exited).toBe(0);
      running = await serve(d);
      const again = await readBooks(books, tenant.orgId);
      expect(again.usage).toHaveLength(answered.length);
      expect(sumLedger(again)).toBe(sum);
    } finally {
      running.proc.kill('SIGTERM');
      await running.proc.exited;
      await books.close();
      await proxy.close();
      rmSync(dir, { recursive: true, force: true });
      await db.drop();
    }
  }, 180_000);
});
