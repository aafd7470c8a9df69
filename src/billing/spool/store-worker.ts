// Worker thread that owns the store connection for usage and charge writes, so a slow commit
// (SQLite fsync, a Postgres round trip, an outage) never runs on the request thread.
import { parentPort, workerData } from 'node:worker_threads';
import { openStore } from '../../store/index.js';
import { decodeLines } from './rows.js';
import type { WorkerReply, WorkerRequest, WorkerTarget } from './worker-protocol.js';

const port = parentPort;
if (!port) throw new Error('store-worker must run in a worker thread');
const target = workerData as WorkerTarget;
const opening = openStore(target.url, {
  ...(target.schema !== undefined ? { schema: target.schema } : {}),
  onError: () => undefined,
});

port.on('message', (msg: WorkerRequest) => {
  if (msg.kind === 'close') {
    opening.then((s) => s.close()).finally(() => port.close());
    return;
  }
  opening
    .then((store) => {
      const batch = decodeLines(msg.payload.split('\n'));
      return store.writeBatch({ usage: batch.usage, charges: batch.charges });
    })
    .then(
      () => port.postMessage({ id: msg.id, ok: true } satisfies WorkerReply),
      (err: unknown) => port.postMessage({ id: msg.id, ok: false, error: err instanceof Error ? err.message : String(err) } satisfies WorkerReply),
    );
});
