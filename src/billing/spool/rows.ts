// One spool line per finished request: the usage row and its charge as JSON, so the line that
// makes a request durable is also what the store writer and the replay read.
import type { Batch } from '../../store/write-batch.js';
import type { FinishedRequest } from '../usage-writer.js';

export function encodeFinished(item: FinishedRequest): string {
  return JSON.stringify(item);
}

export interface DecodedBatch extends Batch {
  /** Lines that were not a finished request (corrupt); skipped. */
  bad: number;
}

/** Rows of many lines, in order; a request id seen twice is written once. */
export function decodeLines(lines: readonly string[]): DecodedBatch {
  const out: DecodedBatch = { usage: [], charges: [], bad: 0 };
  for (const line of lines) {
    if (line === '') continue;
    let item: FinishedRequest;
    try {
      item = JSON.parse(line) as FinishedRequest;
    } catch {
      out.bad++;
      continue;
    }
    if (!item || typeof item !== 'object' || !item.usage || typeof item.usage.request_id !== 'string') {
      out.bad++;
      continue;
    }
    out.usage.push(item.usage);
    if (item.charge) out.charges.push(item.charge);
  }
  return out;
}
