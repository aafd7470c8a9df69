// Start-up replay: rows that a previous process spooled but may not have committed go to the
// store before balances are read from it, so each charge is counted exactly once. The store
// skips request ids it already has, which makes replaying a committed row harmless.
import { rmSync } from 'node:fs';
import type { Logger } from '../../observability/logger.js';
import type { Store } from '../../store/types.js';
import { decodeLines } from './rows.js';
import { readSpoolDir } from './spool.js';

const REPLAY_CHUNK = 500;

export interface ReplayResult {
  rows: number;
  torn: number;
  bad: number;
}

export async function replaySpools(store: Pick<Store, 'writeBatch'>, dirs: readonly string[], log: Logger): Promise<ReplayResult> {
  const total: ReplayResult = { rows: 0, torn: 0, bad: 0 };
  for (const dir of dirs) {
    const { lines, torn } = readSpoolDir(dir);
    total.torn += torn;
    for (let i = 0; i < lines.length; i += REPLAY_CHUNK) {
      const batch = decodeLines(lines.slice(i, i + REPLAY_CHUNK));
      total.bad += batch.bad;
      await store.writeBatch({ usage: batch.usage, charges: batch.charges });
      total.rows += batch.usage.length;
    }
    rmSync(dir, { recursive: true, force: true });
  }
  if (total.rows > 0 || total.torn > 0 || total.bad > 0) {
    log.info({ rows: total.rows, torn: total.torn, corrupt: total.bad }, 'replayed spooled usage and charge rows into the store');
  }
  return total;
}
