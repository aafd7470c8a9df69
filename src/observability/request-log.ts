// Request logs, opt-in per org: the request and response bodies of an org that turned them
// on, redacted and size-capped, kept until their retention ends. Orgs without them cost one
// property read per request; nothing is captured or stored for them.
import type { Logger } from 'pino';
import type { Principal } from '../auth/authenticate.js';
import type { OrgRow, RequestLogRow, Store } from '../store/types.js';

/** Each body is cut at this many characters (UTF-16 units) of its JSON. */
export const REQUEST_LOG_MAX_CHARS = 65_536;
export const REQUEST_LOG_DEFAULT_DAYS = 7;
export const REQUEST_LOG_MAX_DAYS = 90;

export interface RequestLogSetting {
  enabled: boolean;
  retention_days: number;
}

/** The org's setting as stored in its settings, read leniently (off unless clearly on). */
export function requestLogSetting(org: OrgRow): RequestLogSetting {
  const raw = org.settings.request_logs as { enabled?: unknown; retention_days?: unknown } | undefined;
  const days = typeof raw?.retention_days === 'number' && Number.isInteger(raw.retention_days) ? Math.min(Math.max(raw.retention_days, 1), REQUEST_LOG_MAX_DAYS) : REQUEST_LOG_DEFAULT_DAYS;
  return { enabled: raw?.enabled === true, retention_days: days };
}

/** A setting as stored: retention made explicit. */
export function withRetention(body: { enabled: boolean; retention_days?: number }): RequestLogSetting {
  return { enabled: body.enabled, retention_days: body.retention_days ?? REQUEST_LOG_DEFAULT_DAYS };
}

/** Cheap check on the hot path: no object is made for orgs without request logs. */
export function requestLogsOn(org: OrgRow): boolean {
  return (org.settings.request_logs as { enabled?: unknown } | undefined)?.enabled === true;
}

/** The inference requests whose bodies are to be kept, by request, with the key that sent them. */
const logged = new WeakMap<object, Principal>();

/** Marks a request, authenticated before its body was read, for logging when its org wants it. */
export function markIfLogged(req: object, p: Principal | undefined): void {
  if (p !== undefined && p.key.kind === 'sk' && requestLogsOn(p.org)) logged.set(req, p);
}

export function loggedPrincipal(req: object): Principal | undefined {
  return logged.get(req);
}

const SECRET_FIELD = /^(authorization|proxy-authorization|x-api-key|api[-_]?key|apikey|password|passwd|secret|client[-_]?secret|access[-_]?token|refresh[-_]?token|token)$/i;
/** Keys and tokens inside text: Tollgate's own keys, common provider keys, bearer tokens. */
const SECRET_TEXT = /\b(?:(?:sk|mk|rk|pk)-[A-Za-z0-9_-]{12,}|sk-ant-[A-Za-z0-9_-]{12,}|AIza[0-9A-Za-z_-]{20,}|gh[pousr]_[A-Za-z0-9]{20,}|xox[abprs]-[A-Za-z0-9-]{10,})|\bBearer\s+[A-Za-z0-9._~+/=-]{12,}/g;
const REDACTED = '[redacted]';

function redactText(s: string): string {
  return s.replace(SECRET_TEXT, REDACTED);
}

/** A copy of a JSON value with secret-named fields and key-shaped strings replaced. */
export function redact(value: unknown, depth = 0): unknown {
  if (typeof value === 'string') return redactText(value);
  if (value === null || typeof value !== 'object' || depth > 64) return value;
  if (Array.isArray(value)) return value.map((v) => redact(v, depth + 1));
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value as Record<string, unknown>)) out[k] = SECRET_FIELD.test(k) ? REDACTED : redact(v, depth + 1);
  return out;
}

/** Redacted text cut at the cap; says whether it was cut. */
export function capText(text: string): { text: string; truncated: boolean } {
  const clean = redactText(text);
  return clean.length <= REQUEST_LOG_MAX_CHARS ? { text: clean, truncated: false } : { text: clean.slice(0, REQUEST_LOG_MAX_CHARS), truncated: true };
}

/** A request body (already parsed JSON) as kept: redacted, serialised, capped. */
export function captureBody(body: unknown): { text: string; truncated: boolean } {
  let text: string;
  try {
    text = JSON.stringify(redact(body)) ?? '';
  } catch {
    text = '';
  }
  return capText(text);
}

/** Collects a stream's frames up to the cap while passing them through unchanged. */
export async function* teeFrames(frames: AsyncIterable<string>, sink: { text: string; truncated: boolean }): AsyncGenerator<string> {
  for await (const f of frames) {
    if (!sink.truncated) {
      const room = REQUEST_LOG_MAX_CHARS * 2 - sink.text.length;
      if (f.length <= room) sink.text += f;
      else {
        sink.text += f.slice(0, Math.max(0, room));
        sink.truncated = true;
      }
    }
    yield f;
  }
}

/** Buffers request logs and writes them in batches, off the request's path. */
export class RequestLogWriter {
  private queue: RequestLogRow[] = [];
  private timer: NodeJS.Timeout | undefined;
  private writing: Promise<void> = Promise.resolve();

  constructor(
    private readonly store: Pick<Store, 'insertRequestLogs'>,
    private readonly log: Logger,
    private readonly delayMs = 200,
  ) {}

  record(org: OrgRow, keyId: string, requestId: string, route: string, request: { text: string; truncated: boolean }, response: { text: string; truncated: boolean }, now = Date.now()): void {
    const setting = requestLogSetting(org);
    if (!setting.enabled) return;
    const res = capText(response.text);
    this.queue.push({
      request_id: requestId,
      org_id: org.id,
      key_id: keyId,
      route,
      request: request.text,
      response: res.text,
      truncated: request.truncated || response.truncated || res.truncated,
      created_at: now,
      expires_at: now + setting.retention_days * 86_400_000,
    });
    if (!this.timer) {
      this.timer = setTimeout(() => void this.flush(), this.delayMs);
      this.timer.unref();
    }
  }

  /** Writes everything queued; resolves when it is in the store (or the write failed and was logged). */
  flush(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    const rows = this.queue;
    this.queue = [];
    this.writing = this.writing.then(async () => {
      if (rows.length === 0) return;
      try {
        await this.store.insertRequestLogs(rows);
      } catch (err) {
        this.log.warn({ err, rows: rows.length }, 'request logs could not be stored');
      }
    });
    return this.writing;
  }
}
