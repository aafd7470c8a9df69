// Worker thread that owns the store connection for usage and charge writes, so a slow commit
// (SQLite fsync, a Postgres round trip, an outage) never runs on the request thread.
// SQLite is written with prepared better-sqlite3 statements (sqlite-batch-writer.ts); only
// Postgres loads the Kysely store, and each loads on demand so the other costs no memory here.
import { parentPort, workerData } from 'node:worker_threads';
import type { Batch } from '../../store/write-batch.js';
import { decodeLines } from './rows.js';
import type { WorkerData, WorkerReply, WorkerRequest } from './worker-protocol.js';

interface Committer {
  write(batch: Batch): unknown;
  close(): unknown;
}

const port = parentPort;
if (!port) throw new Error('store-worker must run in a worker thread');
const target = workerData as WorkerData;

async function openCommitter(): Promise<Committer> {
  if (target.sqlitePath !== undefined) {
    const { SqliteBatchWriter } = await import('../../store/sqlite-batch-writer.js');
    return new SqliteBatchWriter(target.sqlitePath);
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
      const batch = decodeLines(msg.payload.split('\n'));
      return c.write({ usage: batch.usage, charges: batch.charges });
    })
    .then(
      () => port.postMessage({ id: msg.id, ok: true } satisfies WorkerReply),
      (err: unknown) => port.postMessage({ id: msg.id, ok: false, error: err instanceof Error ? err.message : String(err) } satisfies WorkerReply),
    );
});
