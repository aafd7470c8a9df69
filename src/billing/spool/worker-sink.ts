// The request thread's side of the store worker: hands it a batch of spool lines as their UTF-8
// bytes (a copy of one buffer, no structured clone of objects) and resolves when the batch is committed.
// With SQLite it also takes the request path's own rows (stored Responses, request logs),
// encoded here to flat values, so no SQLite statement for them runs on the request thread.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import { parseStorageUrl } from '../../store/index.js';
import { requestLogValues, storedResponseValues } from '../../store/sqlite-columns.js';
import type { RequestLogRow, StoredResponseRow } from '../../store/types.js';
import type { BatchSink } from '../usage-writer.js';
import type { WorkerData, WorkerReply, WorkerRequest, WorkerTarget } from './worker-protocol.js';

const CLOSE_WAIT_MS = 2000;
/**
 * The worker holds at most one batch (a few hundred rows): a small young generation keeps its
 * memory to what it uses instead of V8's defaults sized for a whole application.
 */
const WORKER_LIMITS = { maxYoungGenerationSizeMb: 4, maxOldGenerationSizeMb: 128 };

/** Writes of the request path that the store worker takes over from the request thread (SQLite). */
export interface RowWrites {
  putResponse(row: StoredResponseRow): Promise<void>;
  insertRequestLogs(rows: RequestLogRow[]): Promise<void>;
}

/** A request to write, without the id send() assigns. */
type Unsent<R = Exclude<WorkerRequest, { kind: 'close' }>> = R extends unknown ? Omit<R, 'id'> : never;

/** Runs from dist/ as plain JS; from TypeScript sources (tests) the worker needs tsx's loader. */
function startWorker(target: WorkerTarget, sqlitePath: string | undefined): Worker {
  const workerData: WorkerData = sqlitePath !== undefined ? { ...target, sqlitePath } : target;
  const here = import.meta.url;
  if (here.endsWith('.js')) return new Worker(new URL('./store-worker.js', here), { workerData, resourceLimits: WORKER_LIMITS });
  const pkgPath = createRequire(here).resolve('tsx/package.json');
  const pkg = JSON.parse(readFileSync(pkgPath, 'utf8')) as { exports: Record<string, { import: { default: string } }> };
  const tsx = pathToFileURL(join(dirname(pkgPath), pkg.exports['./esm/api']!.import.default)).href;
  const entry = new URL('./store-worker.ts', here).href;
  const boot = `import(${JSON.stringify(tsx)}).then((m) => { m.register(); return import(${JSON.stringify(entry)}); })`;
  return new Worker(boot, { eval: true, workerData, resourceLimits: WORKER_LIMITS });
}

export class WorkerSink implements BatchSink, RowWrites {
  private worker: Worker | undefined;
  private nextId = 1;
  private readonly waiting = new Map<number, { resolve(): void; reject(err: Error): void }>();
  /** Set by close(): rows handed over after it are refused instead of starting another worker. */
  private closed = false;
  private readonly sqlitePath: string | undefined;

  constructor(private readonly target: WorkerTarget) {
    const storage = parseStorageUrl(target.url);
    this.sqlitePath = storage.dialect === 'sqlite' ? storage.path : undefined;
  }

  /** This sink's RowWrites when its worker writes them (SQLite); undefined for Postgres. */
  get rowWrites(): RowWrites | undefined {
    return this.sqlitePath !== undefined ? this : undefined;
  }

  /** Starts the worker now, so its start-up (loading the store driver) is not paid by the first flush. */
  start(): void {
    this.ensure();
  }

  private ensure(): Worker {
    if (this.worker) return this.worker;
    const w = startWorker(this.target, this.sqlitePath);
    // The writer's own timers keep the process alive while rows are queued; an idle worker must not.
    w.unref();
    w.on('message', (m: WorkerReply) => {
      const p = this.waiting.get(m.id);
      if (!p) return;
      this.waiting.delete(m.id);
      if (m.ok) p.resolve();
      else p.reject(new Error(m.error));
    });
    const fail = (err: Error) => {
      if (this.worker === w) this.worker = undefined;
      for (const p of this.waiting.values()) p.reject(err);
      this.waiting.clear();
    };
    w.on('error', fail);
    w.on('exit', (code) => fail(new Error(`the store worker exited (${code})`)));
    this.worker = w;
    return w;
  }

  /**
   * Hands the worker a copy of exactly the payload's bytes, transferred rather than cloned. A
   * clone would copy the whole buffer under the view (a batch's spare capacity included) into a
   * new one on each side; the caller keeps its own bytes for a retry and may reuse them once the
   * promise settles.
   */
  write(payload: Uint8Array): Promise<void> {
    const copy = Buffer.allocUnsafeSlow(payload.byteLength);
    copy.set(payload);
    return this.send({ kind: 'write', payload: copy }, [copy.buffer as ArrayBuffer]);
  }

  /** Resolves when the row is committed (read-your-writes for the caller); rejects if it is not. */
  putResponse(row: StoredResponseRow): Promise<void> {
    if (this.sqlitePath === undefined) return Promise.reject(new Error('stored responses go through the store worker only with SQLite'));
    if (this.closed) return Promise.reject(new Error('the store worker is closed'));
    let values: ReturnType<typeof storedResponseValues>;
    try {
      values = storedResponseValues(row);
    } catch (err) {
      return Promise.reject(err);
    }
    return this.send({ kind: 'response', values });
  }

  /** Resolves when every row is committed, in one transaction; rejects having written none. */
  insertRequestLogs(rows: RequestLogRow[]): Promise<void> {
    if (this.sqlitePath === undefined) return Promise.reject(new Error('request logs go through the store worker only with SQLite'));
    if (this.closed) return Promise.reject(new Error('the store worker is closed'));
    if (rows.length === 0) return Promise.resolve();
    return this.send({ kind: 'request-logs', rows: rows.map(requestLogValues) });
  }

  private send(request: Unsent, transfer?: ArrayBuffer[]): Promise<void> {
    const w = this.ensure();
    const id = this.nextId++;
    return new Promise<void>((resolve, reject) => {
      this.waiting.set(id, { resolve, reject });
      w.postMessage({ ...request, id } as WorkerRequest, transfer);
    });
  }

  /** Lets the worker close its connections; ends it if a write is stuck (store unreachable). */
  async close(): Promise<void> {
    this.closed = true;
    const w = this.worker;
    if (!w) return;
    this.worker = undefined;
    const exited = new Promise<void>((resolve) => w.once('exit', () => resolve()));
    w.postMessage({ kind: 'close' } satisfies WorkerRequest);
    const timer = setTimeout(() => void w.terminate(), CLOSE_WAIT_MS);
    await exited;
    clearTimeout(timer);
  }
}
