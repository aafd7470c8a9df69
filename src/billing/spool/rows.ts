// One spool line per finished request: the usage row and its charge, so the line that makes a
// request durable is also what the store writer and the replay read.
//
// A line is a JSON array of the values in a fixed order (POSITIONAL): a kind (FINAL or
// CHECKPOINT), the usage row's 22 values, then, for a charged request, the charge's 9. Without
// the 31 property names per line, it is about half as long as the object it encodes, and both
// writing it (on the request thread) and reading it (in the store worker) cost less. Lines of
// the earlier format, a JSON object { usage, charge, provisional? }, are still read: a spool
// left by an earlier version replays at the next start.
import type { LedgerKind, LedgerRow, UsageRow } from '../../store/types.js';
import type { Batch } from '../../store/write-batch.js';
import type { FinishedRequest } from '../usage-writer.js';

const FINAL = 1;
const CHECKPOINT = 2;
const USAGE_VALUES = 22;
const CHARGE_VALUES = 9;

function positional(kind: number, item: FinishedRequest): string {
  const u = item.usage;
  const c = item.charge;
  const usage = [
    kind, u.request_id, u.org_id, u.key_id, u.model, u.requested_model, u.provider, u.surface,
    u.cache_read_tokens, u.cache_write_tokens, u.reasoning_tokens, u.prompt_tokens, u.completion_tokens,
    u.cost_micros, u.cached, u.status, u.error_code, u.latency_ms, u.stream, u.estimated, u.fallback,
    u.attempts, u.created_at,
  ];
  if (c === undefined) return JSON.stringify(usage);
  usage.push(c.id, c.org_id, c.key_id, c.kind, c.amount_micros, c.note, c.request_id, c.idempotency_key, c.created_at);
  return JSON.stringify(usage);
}

export function encodeFinished(item: FinishedRequest): string {
  return positional(FINAL, item);
}

/**
 * A stream still open: what it has delivered so far. Only the spool keeps it (never the store),
 * so that a process killed mid-stream still bills, at the next start, the tokens it streamed.
 * The request's final row supersedes it.
 */
export function encodeCheckpoint(item: FinishedRequest): string {
  return positional(CHECKPOINT, item);
}

type Value = string | number | boolean | null;

/** A positional line's request, or undefined when the array is not one. */
function fromPositional(a: Value[]): { item: FinishedRequest; final: boolean } | undefined {
  if ((a[0] !== FINAL && a[0] !== CHECKPOINT) || typeof a[1] !== 'string') return undefined;
  if (a.length !== 1 + USAGE_VALUES && a.length !== 1 + USAGE_VALUES + CHARGE_VALUES) return undefined;
  const usage: UsageRow = {
    request_id: a[1],
    org_id: a[2] as string,
    key_id: a[3] as string,
    model: a[4] as string,
    requested_model: a[5] as string,
    provider: a[6] as string | null,
    surface: a[7] as string,
    cache_read_tokens: a[8] as number,
    cache_write_tokens: a[9] as number,
    reasoning_tokens: a[10] as number,
    prompt_tokens: a[11] as number,
    completion_tokens: a[12] as number,
    cost_micros: a[13] as number,
    cached: a[14] as UsageRow['cached'],
    status: a[15] as number,
    error_code: a[16] as string | null,
    latency_ms: a[17] as number,
    stream: a[18] as boolean,
    estimated: a[19] as boolean,
    fallback: a[20] as string | null,
    attempts: a[21] as number,
    created_at: a[22] as number,
  };
  const charge: LedgerRow | undefined =
    a.length === 1 + USAGE_VALUES
      ? undefined
      : {
          id: a[23] as string,
          org_id: a[24] as string,
          key_id: a[25] as string | null,
          kind: a[26] as LedgerKind,
          amount_micros: a[27] as number,
          note: a[28] as string | null,
          request_id: a[29] as string | null,
          idempotency_key: a[30] as string | null,
          created_at: a[31] as number,
        };
  return { item: { usage, charge }, final: a[0] === FINAL };
}

/** A line of the earlier format (a JSON object), or undefined when it is not one. */
function fromObject(o: FinishedRequest & { provisional?: unknown }): { item: FinishedRequest; final: boolean } | undefined {
  if (!o.usage || typeof o.usage.request_id !== 'string') return undefined;
  return { item: o, final: o.provisional !== true };
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
    let parsed: unknown;
    try {
      parsed = JSON.parse(line);
    } catch {
      out.bad++;
      continue;
    }
    const row = Array.isArray(parsed) ? fromPositional(parsed as Value[]) : parsed !== null && typeof parsed === 'object' ? fromObject(parsed as FinishedRequest) : undefined;
    if (row === undefined) {
      out.bad++;
      continue;
    }
    const { item, final } = row;
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
