// The charge of a request on the answer itself: `usage.cost` (USD, a number) in the body or
// in the stream frame that closes with usage, and `x-tollgate-cost-usd` on non-stream answers.
// Native answers are the upstream's own JSON; only their usage object gains the field.

/** Micro-USD as the USD number the usage object carries. */
export function costUsd(micros: number): number {
  return micros / 1e6;
}

/** Micro-USD as the header value: fixed six decimals, never exponent notation. */
export function costHeader(micros: number): string {
  return (micros / 1e6).toFixed(6);
}

type Json = Record<string, unknown>;

function isObject(v: unknown): v is Json {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

/** Sets `cost` on the usage object of a parsed answer or event (top level, or a Responses event's `response`). */
function setCost(obj: unknown, micros: number): boolean {
  if (!isObject(obj)) return false;
  if (isObject(obj.usage)) {
    obj.usage.cost = costUsd(micros);
    return true;
  }
  if (isObject(obj.response) && isObject(obj.response.usage)) {
    obj.response.usage.cost = costUsd(micros);
    return true;
  }
  return false;
}

/** A JSON body with `usage.cost` set; the body unchanged when it is not JSON or has no usage object. */
export function bodyWithCost(body: string, micros: number): string {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch {
    return body;
  }
  return setCost(parsed, micros) ? JSON.stringify(parsed) : body;
}

/** One SSE frame (optional `event:` line, one `data:` line) with `usage.cost` set in its data. */
export function frameWithCost(frame: string, micros: number): string {
  const at = frame.search(/(^|\n)data:/);
  if (at === -1) return frame;
  const start = frame.indexOf('data:', at) + 5;
  let end = frame.indexOf('\n', start);
  if (end === -1) end = frame.length;
  const raw = frame.slice(start, end);
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch {
    return frame;
  }
  if (!setCost(parsed, micros)) return frame;
  const lead = raw.startsWith(' ') ? ' ' : '';
  const trail = raw.endsWith('\r') ? '\r' : '';
  return `${frame.slice(0, start)}${lead}${JSON.stringify(parsed)}${trail}${frame.slice(end)}`;
}
