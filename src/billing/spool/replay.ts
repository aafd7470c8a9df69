// Start-up replay: rows that a previous process spooled but may not have committed go to the
// store before balances are read from it, so each charge is counted exactly once. The store
// skips request ids it already has, which makes replaying a committed row harmless.
import { rmSync } from 'node:fs';
import type { Logger } from '../../observability/logger.js';
import type { LedgerRow, Store } from '../../store/types.js';
import { decodeLines } from './rows.js';
import { readSpoolDir } from './spool.js';

const REPLAY_CHUNK = 500;

export interface ReplayResult {
  rows: number;
  torn: number;
  bad: number;
  /** Charges of streams a killed process never finished: settled nowhere but the store. */
  interrupted: LedgerRow[];
}

export async function replaySpools(store: Pick<Store, 'writeBatch'>, dirs: readonly string[], log: Logger): Promise<ReplayResult> {
  const total: ReplayResult = { rows: 0, torn: 0, bad: 0, interrupted: [] };
  for (const dir of dirs) {
    const { lines, torn } = readSpoolDir(dir);
    total.torn += torn;
    // Decoded whole: a request's final row beats its checkpoints wherever they stand.
    const all = decodeLines(lines);
    total.bad += all.bad;
    const chargeOf = new Map(all.charges.map((c) => [c.request_id, c]));
    const interrupted = new Map(all.interrupted.map((c) => [c.request_id, c]));
    for (let i = 0; i < all.usage.length; i += REPLAY_CHUNK) {
      const usage = all.usage.slice(i, i + REPLAY_CHUNK);
      const charges = usage.flatMap((u) => chargeOf.get(u.request_id) ?? []);
      const written = await store.writeBatch({ usage, charges });
      total.rows += usage.length;
      // Only a checkpoint the store did not have yet is a charge no balance has seen.
      for (const id of written?.inserted ?? []) {
        const c = interrupted.get(id);
        if (c) total.interrupted.push(c);
      }
    }
    rmSync(dir, { recursive: true, force: true });
  }
  if (total.rows > 0 || total.torn > 0 || total.bad > 0) {
    log.info({ rows: total.rows, torn: total.torn, corrupt: total.bad }, 'replayed spooled usage and charge rows into the store');
  }
  return total;
}
