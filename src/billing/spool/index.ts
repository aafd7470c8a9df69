// Owns the write-ahead spool of usage and charge rows and the worker thread that commits them.
// Must not decide what a row contains (the engine does) or block the request thread on the store.
import { createHash } from 'node:crypto';
import { resolve } from 'node:path';
import type { Logger } from '../../observability/logger.js';
import { parseStorageUrl } from '../../store/index.js';
import type { LedgerRow, Store } from '../../store/types.js';
import type { BatchSink } from '../usage-writer.js';
import { replaySpools } from './replay.js';
import { claimSlots } from './slots.js';
import { Spool } from './spool.js';
import { type RowWrites, WorkerSink } from './worker-sink.js';

export { Spool } from './spool.js';

const SEGMENT_BYTES = 8 * 1024 * 1024;

export interface DurabilityOptions {
  storageUrl: string;
  /** Postgres schema (tests). */
  storeSchema?: string;
  /** `billing.spool_dir`; null picks the default beside the database. */
  spoolDir: string | null;
  cwd?: string;
}

/** Where this database's spool lives; undefined for an in-memory database (nothing to recover into). */
export function spoolRoot(opts: DurabilityOptions): string | undefined {
  const cwd = opts.cwd ?? process.cwd();
  if (opts.spoolDir) return resolve(cwd, opts.spoolDir);
  const target = parseStorageUrl(opts.storageUrl, cwd);
  if (target.dialect === 'sqlite') return target.path === ':memory:' ? undefined : `${target.path}-spool`;
  // One directory per database and schema, so rows are never replayed into another database.
  // Not the port or password: a proxy in front or a rotated password is still the same database.
  const u = new URL(target.url);
  const name = `${decodeURIComponent(u.username)}@${u.hostname}/${decodeURIComponent(u.pathname.slice(1))}\u0000${opts.storeSchema ?? ''}`;
  const id = createHash('sha256').update(name).digest('hex').slice(0, 16);
  return resolve(cwd, 'data', 'spool', `pg-${id}`);
}

export interface UsageDurability {
  spool: Spool | undefined;
  sink: BatchSink | undefined;
  /** With SQLite: the store worker also writes stored responses and request logs (closed with the sink). */
  rowWrites?: RowWrites;
  /** Rows a previous process left in the spool, now in the store. */
  replayed: number;
  /** Charges of streams a killed process never finished: in the store now, to be applied to a shared (Redis) balance. */
  interrupted?: LedgerRow[];
}

/**
 * Claims this process's spool slot, replays every orphaned slot into the store (before any
 * balance is read from it) and starts the store worker.
 */
export async function openUsageDurability(store: Pick<Store, 'writeBatch'>, log: Logger, opts: DurabilityOptions): Promise<UsageDurability> {
  const root = spoolRoot(opts);
  const target = parseStorageUrl(opts.storageUrl, opts.cwd);
  const sink = target.dialect === 'sqlite' && target.path === ':memory:' ? undefined : new WorkerSink({ url: opts.storageUrl, ...(opts.storeSchema !== undefined ? { schema: opts.storeSchema } : {}) });
  sink?.start();
  const rowWrites = sink?.rowWrites;
  if (!root) return { spool: undefined, sink, rowWrites, replayed: 0 };
  let claimed: ReturnType<typeof claimSlots>;
  try {
    claimed = claimSlots(root);
  } catch (err) {
    await sink?.close();
    throw new Error(`cannot use ${root} for the usage spool (${(err as Error).message}); set billing.spool_dir to a writable local directory`);
  }
  const { slot, orphans } = claimed;
  const { rows, interrupted } = await replaySpools(store, orphans, log);
  const spool = new Spool(slot, { segmentBytes: SEGMENT_BYTES, onError: (err, what) => log.error({ err }, what) });
  return { spool, sink, rowWrites, replayed: rows, interrupted };
}
