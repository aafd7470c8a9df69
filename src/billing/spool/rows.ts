// One spool line per finished request: the usage row and its charge as JSON, so the line that
// makes a request durable is also what the store writer and the replay read.
import type { Batch } from '../../store/write-batch.js';
import type { FinishedRequest } from '../usage-writer.js';

export function encodeFinished(item: FinishedRequest): string {
  return JSON.stringify(item);
}

/**
 * A stream still open: what it has delivered so far. Only the spool keeps it (never the store),
 * so that a process killed mid-stream still bills, at the next start, the tokens it streamed.
 * The request's final row supersedes it.
 */
export function encodeCheckpoint(item: FinishedRequest): string {
  return JSON.stringify({ ...item, provisional: true });
}

export interface DecodedBatch extends Batch {
  /** Lines that were not a finished request (corrupt); skipped. */
  bad: number;
  /** Charges of streams the process never finished (from their last checkpoint): never applied to a shared balance. */
  interrupted: Batch['charges'];
}

/**
 * The lines of a batch's UTF-8 bytes (as the usage writer hands them to its sink), each decoded
 * on its own: a batch decoded whole is a string of a few hundred KB, which V8 allocates straight
 * in the old generation (its large-object space), once per batch.
 */
export function linesOf(bytes: Uint8Array): string[] {
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const lines: string[] = [];
  let start = 0;
  for (let nl = buf.indexOf(0x0a, start); nl !== -1; nl = buf.indexOf(0x0a, start)) {
    lines.push(buf.toString('utf8', start, nl));
    start = nl + 1;
  }
  lines.push(buf.toString('utf8', start));
  return lines;
}

/**
 * Rows of many lines, in order; a request id seen twice is written once: its final row, or,
 * for a stream the process never finished, its latest checkpoint.
 */
export function decodeLines(lines: readonly string[]): DecodedBatch {
  const out: DecodedBatch = { usage: [], charges: [], bad: 0, interrupted: [] };
  const byRequest = new Map<string, { item: FinishedRequest; final: boolean }>();
  for (const line of lines) {
    if (line === '') continue;
    let item: FinishedRequest & { provisional?: unknown };
    try {
      item = JSON.parse(line) as FinishedRequest & { provisional?: unknown };
    } catch {
      out.bad++;
      continue;
    }
    if (!item || typeof item !== 'object' || !item.usage || typeof item.usage.request_id !== 'string') {
      out.bad++;
      continue;
    }
    const final = item.provisional !== true;
    const seen = byRequest.get(item.usage.request_id);
    if (seen?.final) continue;
    byRequest.set(item.usage.request_id, { item, final });
  }
  for (const { item, final } of byRequest.values()) {
    out.usage.push(item.usage);
    if (item.charge) out.charges.push(item.charge);
    if (item.charge && !final) out.interrupted.push(item.charge);
  }
  return out;
}
