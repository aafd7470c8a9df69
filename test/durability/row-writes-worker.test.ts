// ARCHITECTURE hot-path rule 1 for the request path's own rows: with SQLite, stored Responses
// and request logs are written by the store worker, not by a synchronous better-sqlite3
// statement on the request thread. The worker writes exactly the rows the Kysely store writes
// (read back through the main store they are equal), keeps read-your-writes for GET, reports a
// failed write instead of throwing, and commits what it was handed before it closes.
import { createRequire } from 'node:module';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WorkerSink } from '../../src/billing/spool/worker-sink.js';
import type { RequestLogRow, StoredResponseRow } from '../../src/store/types.js';
import { StoredResponses } from '../../src/surfaces/responses/stored.js';
import type { ResponseObject, ResponseRequestInfo } from '../../src/surfaces/responses/types.js';
import { chat, startTestGateway, type TestGateway } from '../helpers/gateway.js';
import { useSqliteWithWorker } from './worker-support.js';

function storedRow(id: string, over: Partial<StoredResponseRow> = {}): StoredResponseRow {
  return {
    id,
    org_id: 'org_a',
    key_id: 'key_1',
    model: 'mock-chat',
    previous_response_id: null,
    response: { id: 'resp_same', object: 'response', status: 'completed', output: [{ type: 'message', content: [{ type: 'output_text', text: 'ünïcode ✓ \u2028 "quoted" \\ 😀' }] }], usage: { input_tokens: 3, cost: 0.000123 } },
    input_items: [{ id: 'msg_1', type: 'message', role: 'user', content: 'hi' }],
    context: [{ id: 'msg_0', type: 'message', role: 'system', content: 'be brief' }, { id: 'msg_1', type: 'message', role: 'user', content: 'hi', nested: { a: [1, 2.5, null, true] } }],
    created_at: 1_764_460_800_123,
    expires_at: 1_765_065_600_123,
    ...over,
  };
}

function logRow(requestId: string, truncated: boolean): RequestLogRow {
  return { request_id: requestId, org_id: 'org_a', key_id: 'key_1', route: 'chat', request: '{"model":"m","messages":[]}', response: 'data: ✓\n\n', truncated, created_at: 1_764_460_800_001, expires_at: 1_765_065_600_001 };
}

/** Each column of a raw row with its SQLite storage class, so a REAL where Kysely wrote an INTEGER would show. */
function rawRow(db: BetterSqlite3.Database, table: string, key: string, id: string): Record<string, unknown> {
  const columns = (db.prepare(`select name from pragma_table_info('${table}')`).all() as { name: string }[]).map((c) => c.name);
  const select = columns.map((c) => `"${c}", typeof("${c}") as "${c}:type"`).join(', ');
  const row = db.prepare(`select ${select} from "${table}" where "${key}" = ?`).get(id) as Record<string, unknown> | undefined;
  if (!row) throw new Error(`no ${table} row ${id}`);
  delete row[key];
  return row;
}

describe('stored responses and request logs written by the SQLite store worker', () => {
  const w = useSqliteWithWorker('tollgate-row-writes-');

  it('is offered for SQLite only', () => {
    expect(w.sink.rowWrites).toBe(w.sink);
    expect(new WorkerSink({ url: 'postgres://u@127.0.0.1:1/db' }).rowWrites).toBeUndefined();
  });

  it('writes the rows the Kysely store writes, column for column', async () => {
    const pairs: Array<[StoredResponseRow, StoredResponseRow]> = [
      [storedRow('resp_worker_1'), storedRow('resp_kysely_1')],
      [storedRow('resp_worker_2', { previous_response_id: 'resp_worker_1' }), storedRow('resp_kysely_2', { previous_response_id: 'resp_worker_1' })],
    ];
    for (const [viaWorker, viaKysely] of pairs) {
      await w.sink.putResponse(viaWorker);
      await w.store.putResponse(viaKysely);
    }
    await w.sink.insertRequestLogs([logRow('req_worker_1', false), logRow('req_worker_2', true)]);
    await w.store.insertRequestLogs([logRow('req_kysely_1', false), logRow('req_kysely_2', true)]);

    for (const [viaWorker, viaKysely] of pairs) {
      const read = await w.store.getResponse('org_a', viaWorker.id, 0);
      expect(read).toEqual(viaWorker);
      expect({ ...read, id: viaKysely.id }).toEqual(await w.store.getResponse('org_a', viaKysely.id, 0));
    }
    for (const n of [1, 2]) {
      const read = await w.store.getRequestLog('org_a', `req_worker_${n}`, 0);
      expect(read).toEqual(logRow(`req_worker_${n}`, n === 2));
      expect({ ...read, request_id: `req_kysely_${n}` }).toEqual(await w.store.getRequestLog('org_a', `req_kysely_${n}`, 0));
    }
    const raw = new BetterSqlite3(w.dbPath, { readonly: true });
    try {
      for (const n of [1, 2]) {
        expect(rawRow(raw, 'stored_responses', 'id', `resp_worker_${n}`)).toEqual(rawRow(raw, 'stored_responses', 'id', `resp_kysely_${n}`));
        expect(rawRow(raw, 'request_logs', 'request_id', `req_worker_${n}`)).toEqual(rawRow(raw, 'request_logs', 'request_id', `req_kysely_${n}`));
      }
    } finally {
      raw.close();
    }
  });

  it('writes an id once, and a request-log batch whole or not at all, as the Kysely store does', async () => {
    await w.sink.putResponse(storedRow('resp_once'));
    await w.sink.putResponse(storedRow('resp_once', { org_id: 'org_b', model: 'other' }));
    expect((await w.store.getResponse('org_a', 'resp_once', 0))?.model).toBe('mock-chat');
    expect(await w.store.getResponse('org_b', 'resp_once', 0)).toBeUndefined();

    await w.sink.insertRequestLogs([logRow('req_dup', false), logRow('req_dup', true)]);
    expect((await w.store.getRequestLog('org_a', 'req_dup', 0))?.truncated).toBe(false);
    const broken = { ...logRow('req_broken', false), route: null as unknown as string };
    await expect(w.sink.insertRequestLogs([logRow('req_with_broken', false), broken])).rejects.toThrow(/NOT NULL/);
    expect(await w.store.getRequestLog('org_a', 'req_with_broken', 0)).toBeUndefined();
  });

  it('commits what it was handed before the worker closes', async () => {
    const saved = w.sink.putResponse(storedRow('resp_before_close'));
    const logged = w.sink.insertRequestLogs([logRow('req_before_close', false)]);
    await w.sink.close();
    await saved;
    await logged;
    expect(await w.store.getResponse('org_a', 'resp_before_close', 0)).toEqual(storedRow('resp_before_close'));
    expect(await w.store.getRequestLog('org_a', 'req_before_close', 0)).toEqual(logRow('req_before_close', false));
    // Nothing is handed to a closed worker (nor does it start another one).
    await expect(w.sink.putResponse(storedRow('resp_after_close'))).rejects.toThrow(/closed/);
    await expect(w.sink.insertRequestLogs([logRow('req_after_close', false)])).rejects.toThrow(/closed/);
  });

  it('reports a write the worker cannot make through onError, without throwing to the caller', async () => {
    const fresh = join(w.dir, 'unmigrated.db');
    const unmigrated = new WorkerSink({ url: `sqlite://${fresh}` });
    try {
      const errors: Array<{ err: unknown; id: string }> = [];
      let reported!: () => void;
      const failed = new Promise<void>((resolve) => (reported = resolve));
      const stored = new StoredResponses({
        store: { putResponse: (r) => unmigrated.putResponse(r), getResponse: async () => undefined, deleteResponse: async () => false },
        retentionMs: 60_000,
        onError: (err, id) => {
          errors.push({ err, id });
          reported();
        },
      });
      const info = { responseId: 'resp_lost', orgId: 'org_a', keyId: 'key_1', echo: { store: true, previous_response_id: null }, input: [], context: [] } as unknown as ResponseRequestInfo;
      expect(() => stored.save(info, { id: 'resp_lost', model: 'mock-chat', output: [] } as unknown as ResponseObject)).not.toThrow();
      await failed;
      await stored.flush();
      expect(errors).toHaveLength(1);
      expect(errors[0]!.id).toBe('resp_lost');
      expect(String((errors[0]!.err as Error).message)).toMatch(/no such table/);
    } finally {
      await unmigrated.close();
    }
  });
});

describe('the request thread makes no SQLite statement for a stored response or a request log', () => {
  // better-sqlite3 runs every statement synchronously on the calling thread: count those of this
  // thread that write the two tables (the worker thread has its own copy of the module).
  const require = createRequire(import.meta.url);
  const Sqlite = require('better-sqlite3') as typeof BetterSqlite3;
  const probe = new Sqlite(':memory:');
  const proto = Object.getPrototypeOf(probe.prepare('select 1')) as Record<string, unknown>;
  probe.close();
  const METHODS = ['run', 'get', 'all', 'iterate'] as const;
  const originals = new Map<string, unknown>(METHODS.map((m) => [m, proto[m]]));
  const writes: string[] = [];
  let gw: TestGateway;
  let key: string;
  let mk: string;
  let orgId: string;

  beforeAll(async () => {
    for (const m of METHODS) {
      const f = originals.get(m) as (...a: unknown[]) => unknown;
      proto[m] = function (this: { source: string }, ...args: unknown[]) {
        if (/^\s*insert into "(stored_responses|request_logs)"/i.test(this.source)) writes.push(this.source);
        return f.apply(this, args);
      };
    }
    gw = await startTestGateway();
    const org = await gw.createOrg(10);
    mk = org.mk;
    orgId = org.orgId;
    key = (await gw.createKey(mk)).key;
  });
  afterAll(async () => {
    for (const m of METHODS) proto[m] = originals.get(m);
    await gw?.close();
  });

  it('stores a response in the worker, and a GET right after the answer reads it', async () => {
    writes.length = 0;
    const res = await fetch(`${gw.url}/v1/responses`, {
      method: 'POST',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'mock-chat', input: 'say hi', store: true }),
    });
    expect(res.status).toBe(200);
    const created = (await res.json()) as { id: string; output: unknown };
    // No flush first: the GET waits for the save in flight.
    const got = await fetch(`${gw.url}/v1/responses/${created.id}`, { headers: { authorization: `Bearer ${key}` } });
    expect(got.status).toBe(200);
    expect(((await got.json()) as { id: string }).id).toBe(created.id);
    await gw.running.gateway.responses.stored.flush();
    expect(writes).toEqual([]);
    const row = await gw.running.gateway.store.getResponse(orgId, created.id, Date.now());
    expect(row?.model).toBe('mock-chat');
    expect(row?.response.output).toEqual(created.output);
  });

  it('stores a request log in the worker', async () => {
    const put = await fetch(`${gw.url}/api/request-logs`, {
      method: 'PUT',
      headers: { authorization: `Bearer ${mk}`, 'content-type': 'application/json' },
      body: JSON.stringify({ enabled: true }),
    });
    expect(put.status).toBe(200);
    writes.length = 0;
    const res = await chat(gw.url, key, { model: 'mock-chat', messages: [{ role: 'user', content: 'kept in the log' }] });
    expect(res.status).toBe(200);
    await res.text();
    const requestId = res.headers.get('x-tollgate-request-id') ?? '';
    await gw.running.gateway.requestLogs.flush();
    expect(writes).toEqual([]);
    const raw = new BetterSqlite3(join(gw.dir, 'tollgate.db'), { readonly: true });
    try {
      const row = raw.prepare('select route, request from request_logs where request_id = ?').get(requestId) as { route: string; request: string } | undefined;
      expect(row?.route).toBe('chat');
      expect(row?.request).toContain('kept in the log');
    } finally {
      raw.close();
    }
  });

  it('finishes the saves and logs in flight at shutdown before the worker closes', async () => {
    const other = await startTestGateway();
    try {
      const org = await other.createOrg(10);
      const k = (await other.createKey(org.mk)).key;
      const put = await fetch(`${other.url}/api/request-logs`, { method: 'PUT', headers: { authorization: `Bearer ${org.mk}`, 'content-type': 'application/json' }, body: JSON.stringify({ enabled: true }) });
      expect(put.status).toBe(200);
      const res = await fetch(`${other.url}/v1/responses`, {
        method: 'POST',
        headers: { authorization: `Bearer ${k}`, 'content-type': 'application/json' },
        body: JSON.stringify({ model: 'mock-chat', input: 'kept at shutdown' }),
      });
      expect(res.status).toBe(200);
      const { id } = (await res.json()) as { id: string };
      const requestId = res.headers.get('x-tollgate-request-id');
      // No flush: the log is still queued in the writer (200 ms batches) when shutdown starts.
      await other.running.shutdown();
      const raw = new BetterSqlite3(join(other.dir, 'tollgate.db'), { readonly: true });
      try {
        expect(raw.prepare('select org_id from stored_responses where id = ?').get(id)).toEqual({ org_id: org.orgId });
        expect(raw.prepare('select route from request_logs where request_id = ?').get(requestId)).toEqual({ route: 'responses' });
      } finally {
        raw.close();
      }
    } finally {
      rmSync(other.dir, { recursive: true, force: true });
    }
  });
});
