// Worker thread that owns the store connection for usage and charge writes, so a slow commit
// (SQLite fsync, a Postgres round trip, an outage) never runs on the request thread.
// SQLite is written with prepared better-sqlite3 statements (sqlite-batch-writer.ts), and so are
// the stored Responses and request logs the request thread hands over (sqlite-row-writer.ts);
// only Postgres loads the Kysely store, and each loads on demand so the other costs no memory here.
import { readlinkSync } from 'node:fs';
import { getPriority, setPriority } from 'node:os';
import { parentPort, workerData } from 'node:worker_threads';
import type { SqlValue } from '../../store/sqlite-columns.js';
import type { Batch } from '../../store/write-batch.js';
import { decodeLines, linesOf } from './rows.js';
import type { WorkerData, WorkerReply, WorkerRequest } from './worker-protocol.js';

interface Committer {
  write(batch: Batch): unknown;
  /** SQLite only: Postgres writes these from the request thread (network I/O, not blocking). */
  putResponse?(values: SqlValue[]): void;
  insertRequestLogs?(rows: SqlValue[][]): void;
  close(): unknown;
}

const port = parentPort;
if (!port) throw new Error('store-worker must run in a worker thread');

/**
 * How much lower this thread's scheduling priority is than the process's (nice steps). Its
 * commits are background work: sharing a core with the request thread at equal priority, a
 * commit (a millisecond or more) delayed every request that arrived meanwhile, which was the
 * p99 at one connection. Ten steps down, the request thread preempts it on wake-up, and the
 * worker still gets about a tenth of a contended core, twice what it needs at full load.
 */
const NICE_STEPS = 10;

/** Linux schedules threads on their own: lower this one's priority (always permitted). */
function yieldToRequests(): void {
  if (process.platform !== 'linux') return;
  try {
    const tid = Number(readlinkSync('/proc/thread-self').split('/').at(-1));
    setPriority(tid, Math.min(19, getPriority(tid) + NICE_STEPS));
  } catch {
    // No /proc, or a sandbox that refuses: the thread keeps the process's priority.
  }
}
yieldToRequests();
const target = workerData as WorkerData;

async function openCommitter(): Promise<Committer> {
  if (target.sqlitePath !== undefined) {
    const [{ SqliteBatchWriter }, { SqliteRowWriter }] = await Promise.all([import('../../store/sqlite-batch-writer.js'), import('../../store/sqlite-row-writer.js')]);
    const batches = new SqliteBatchWriter(target.sqlitePath);
    // One connection for both: this thread runs one write at a time, so they never wait on each other.
    const rows = new SqliteRowWriter(batches.connection);
    return {
      write: (batch) => batches.write(batch),
      putResponse: (values) => rows.putResponse(values),
      insertRequestLogs: (list) => rows.insertRequestLogs(list),
      close: () => batches.close(),
    };
  }
  const { openStore } = await import('../../store/index.js');
  const store = await openStore(target.url, {
    ...(target.schema !== undefined ? { schema: target.schema } : {}),
    onError: () => undefined,
  });
  return { write: (batch) => store.writeBatch(batch), close: () => store.close() };
}

let opening: Promise<Committer> | undefined;
/** Opened at start so the first flush does not pay for it; a failed open is tried again at the next batch. */
function committer(): Promise<Committer> {
  opening ??= openCommitter().catch((err: unknown) => {
    opening = undefined;
    throw err;
  });
  return opening;
}
committer().catch(() => undefined);

port.on('message', (msg: WorkerRequest) => {
  if (msg.kind === 'close') {
    (opening ?? Promise.resolve(undefined))
      .then((c) => c?.close())
      .catch(() => undefined)
      .finally(() => port.close());
    return;
  }
  committer()
    .then((c) => {
      switch (msg.kind) {
        case 'write': {
          const batch = decodeLines(linesOf(msg.payload));
          return c.write({ usage: batch.usage, charges: batch.charges });
        }
        case 'response':
          if (!c.putResponse) throw new Error('this store worker does not write stored responses');
          return c.putResponse(msg.values);
        case 'request-logs':
          if (!c.insertRequestLogs) throw new Error('this store worker does not write request logs');
          return c.insertRequestLogs(msg.rows);
      }
    })
    .then(
      () => port.postMessage({ id: msg.id, ok: true } satisfies WorkerReply),
      (err: unknown) => port.postMessage({ id: msg.id, ok: false, error: err instanceof Error ? err.message : String(err) } satisfies WorkerReply),
    );
});
