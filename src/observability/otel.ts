// OpenTelemetry, opt-in: each request becomes a trace (a server span with GenAI semantic-
// convention attributes, a span for admission, one per upstream attempt and one for the
// answer), plus the GenAI client metrics, sent as OTLP/HTTP JSON to a collector. Loaded only
// when telemetry.otlp.endpoint (or OTEL_EXPORTER_OTLP_ENDPOINT) is set: off, nothing here runs.
// Attributes carry ids, models, token counts and statuses: never keys, prompts or answers.
import { randomBytes } from 'node:crypto';
import type { GatewayError } from '../core/errors.js';
import type { UsageRow } from '../store/types.js';
import type { Logger } from './logger.js';

export interface TelemetryOptions {
  endpoint: string;
  headers: Record<string, string>;
  serviceName: string;
  intervalMs: number;
  version: string;
}

export interface AttemptInfo {
  provider: string;
  channel: string;
  model: string;
  upstreamModel: string;
  startMs: number;
  endMs: number;
  error?: GatewayError;
}

type AttrValue = string | number | boolean;
type Attrs = Record<string, AttrValue | null | undefined>;

interface Pending {
  traceId: string;
  spanId: string;
  startMs: number;
  method: string;
  route: string;
  attempts: AttemptInfo[];
  usage?: UsageRow;
}

interface Span {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  kind: number;
  startTimeUnixNano: string;
  endTimeUnixNano: string;
  attributes: Array<{ key: string; value: Record<string, unknown> }>;
  status: { code: number; message?: string };
}

const SPAN_KIND = { internal: 1, server: 2, client: 3 } as const;
const STATUS = { unset: 0, ok: 1, error: 2 } as const;
/** Bucket bounds the GenAI semantic conventions advise. */
const TOKEN_BOUNDS = [1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216, 67108864];
const SECONDS_BOUNDS = [0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92];
/** Spans kept for the next export at most; beyond it new ones are dropped (a collector that is down must not grow memory). */
const MAX_QUEUED_SPANS = 20_000;
const MAX_PENDING = 100_000;

/** The GenAI operation of each inbound surface. */
const OPERATION: Record<string, string> = {
  chat: 'chat',
  messages: 'chat',
  responses: 'chat',
  completions: 'text_completion',
  embeddings: 'embeddings',
  images: 'generate_content',
};

const nanos = (ms: number) => `${Math.round(ms)}000000`;
const hex = (bytes: number) => randomBytes(bytes).toString('hex');

function attributes(a: Attrs): Span['attributes'] {
  const out: Span['attributes'] = [];
  for (const [key, v] of Object.entries(a)) {
    if (v === null || v === undefined) continue;
    if (typeof v === 'string') out.push({ key, value: { stringValue: v } });
    else if (typeof v === 'boolean') out.push({ key, value: { boolValue: v } });
    else if (Number.isInteger(v)) out.push({ key, value: { intValue: String(v) } });
    else out.push({ key, value: { doubleValue: v } });
  }
  return out;
}

/** A cumulative explicit-bucket histogram per attribute set. */
class Histogram {
  private readonly series = new Map<string, { attrs: Attrs; counts: number[]; sum: number; count: number; min: number; max: number }>();
  constructor(
    readonly name: string,
    readonly unit: string,
    readonly description: string,
    private readonly bounds: number[],
  ) {}

  record(value: number, attrs: Attrs): void {
    const key = JSON.stringify(attrs);
    let s = this.series.get(key);
    if (!s) {
      s = { attrs, counts: new Array(this.bounds.length + 1).fill(0), sum: 0, count: 0, min: value, max: value };
      this.series.set(key, s);
    }
    let i = 0;
    while (i < this.bounds.length && value > this.bounds[i]) i++;
    s.counts[i]++;
    s.sum += value;
    s.count++;
    s.min = Math.min(s.min, value);
    s.max = Math.max(s.max, value);
  }

  toOtlp(startNano: string, nowNano: string): Record<string, unknown> | undefined {
    if (this.series.size === 0) return undefined;
    return {
      name: this.name,
      unit: this.unit,
      description: this.description,
      histogram: {
        aggregationTemporality: 2,
        dataPoints: [...this.series.values()].map((s) => ({
          attributes: attributes(s.attrs),
          startTimeUnixNano: startNano,
          timeUnixNano: nowNano,
          count: String(s.count),
          sum: s.sum,
          min: s.min,
          max: s.max,
          bucketCounts: s.counts.map(String),
          explicitBounds: this.bounds,
        })),
      },
    };
  }
}

export class Telemetry {
  private readonly pending = new Map<string, Pending>();
  private spans: Span[] = [];
  private readonly startedMs = Date.now();
  private readonly timer: NodeJS.Timeout;
  private exporting: Promise<void> = Promise.resolve();
  private warned = false;
  /** Something was recorded since the last metrics export. */
  private dirty = false;
  readonly tokenUsage = new Histogram('gen_ai.client.token.usage', '{token}', 'Input and output tokens per request', TOKEN_BOUNDS);
  readonly duration = new Histogram('gen_ai.client.operation.duration', 's', 'Duration of each GenAI request through the gateway', SECONDS_BOUNDS);
  readonly ttft = new Histogram('gen_ai.server.time_to_first_token', 's', 'Time from the request to the upstream stream opening (streams only)', SECONDS_BOUNDS);

  constructor(
    private readonly opts: TelemetryOptions,
    private readonly log: Logger,
  ) {
    this.timer = setInterval(() => void this.flush(), opts.intervalMs);
    this.timer.unref();
  }

  /** A request arrived (HTTP layer). */
  begin(requestId: string, method: string, startMs: number): void {
    if (this.pending.size >= MAX_PENDING) return;
    this.pending.set(requestId, { traceId: hex(16), spanId: hex(8), startMs, method, route: '', attempts: [] });
  }

  /** An upstream attempt ended, served or failed. */
  attempt(requestId: string, a: AttemptInfo): void {
    this.pending.get(requestId)?.attempts.push(a);
  }

  /** The request's usage record: models, provider, tokens, cost, status. */
  usage(u: UsageRow): void {
    const p = this.pending.get(u.request_id);
    if (p) p.usage = u;
  }

  /** The response is complete (or the client went away): the trace is built and queued. */
  end(requestId: string, route: string, status: number, endMs: number, streamed: boolean): void {
    const p = this.pending.get(requestId);
    if (!p) return;
    this.pending.delete(requestId);
    const u = p.usage;
    // Streams are hijacked responses whose headers the HTTP layer cannot read back: the usage record knows.
    const stream = u ? u.stream : streamed;
    const operation = u ? (OPERATION[u.surface] ?? u.surface) : undefined;
    const gen: Attrs = u
      ? {
          'gen_ai.operation.name': operation,
          'gen_ai.request.model': u.requested_model,
          'gen_ai.response.model': u.model,
          'gen_ai.provider.name': u.provider ?? undefined,
        }
      : {};
    const rootAttrs: Attrs = {
      ...gen,
      'gen_ai.usage.input_tokens': u?.prompt_tokens,
      'gen_ai.usage.output_tokens': u?.completion_tokens,
      'http.request.method': p.method,
      'http.route': route,
      'http.response.status_code': status,
      'tollgate.request.id': requestId,
      'tollgate.org.id': u?.org_id,
      'tollgate.key.id': u?.key_id,
      'tollgate.surface': u?.surface,
      'tollgate.cost_usd': u ? u.cost_micros / 1e6 : undefined,
      'tollgate.cache': u?.cached ?? undefined,
      'tollgate.attempts': u?.attempts,
      'tollgate.fallback': u?.fallback ?? undefined,
      'tollgate.stream': stream,
      'error.type': status >= 400 ? (u?.error_code ?? String(status)) : undefined,
    };
    const spans: Span[] = [];
    const root: Span = {
      traceId: p.traceId,
      spanId: p.spanId,
      name: u ? `${operation} ${u.requested_model}` : `${p.method} ${route}`,
      kind: SPAN_KIND.server,
      startTimeUnixNano: nanos(p.startMs),
      endTimeUnixNano: nanos(endMs),
      attributes: attributes(rootAttrs),
      status: status >= 500 ? { code: STATUS.error, message: u?.error_code ?? String(status) } : { code: STATUS.unset },
    };
    spans.push(root);
    const child = (name: string, kind: number, startMs: number, stopMs: number, attrs: Attrs, error?: string): Span => ({
      traceId: p.traceId,
      spanId: hex(8),
      parentSpanId: p.spanId,
      name,
      kind,
      startTimeUnixNano: nanos(startMs),
      endTimeUnixNano: nanos(Math.max(startMs, stopMs)),
      attributes: attributes(attrs),
      status: error ? { code: STATUS.error, message: error } : { code: STATUS.unset },
    });
    const first = p.attempts[0];
    const last = p.attempts.at(-1);
    // Gateway stages: admission (auth, validation, limits, credit reservation, cache lookup), the attempts, the answer.
    spans.push(child('tollgate.admission', SPAN_KIND.internal, p.startMs, first ? first.startMs : endMs, { 'tollgate.request.id': requestId }));
    for (const a of p.attempts) {
      spans.push(
        child(
          `${operation ?? 'chat'} ${a.upstreamModel}`,
          SPAN_KIND.client,
          a.startMs,
          a.endMs,
          {
            'gen_ai.operation.name': operation,
            'gen_ai.request.model': a.upstreamModel,
            'gen_ai.provider.name': a.provider,
            'tollgate.model': a.model,
            'tollgate.channel': a.channel,
            'error.type': a.error?.code,
          },
          a.error?.code,
        ),
      );
    }
    if (last) spans.push(child('tollgate.response', SPAN_KIND.internal, last.endMs, endMs, { 'tollgate.stream': stream, 'tollgate.request.id': requestId }));
    if (this.spans.length + spans.length <= MAX_QUEUED_SPANS) this.spans.push(...spans);

    if (u) {
      this.dirty = true;
      const m: Attrs = { ...gen };
      this.tokenUsage.record(u.prompt_tokens, { ...m, 'gen_ai.token.type': 'input' });
      this.tokenUsage.record(u.completion_tokens, { ...m, 'gen_ai.token.type': 'output' });
      this.duration.record((endMs - p.startMs) / 1000, status >= 400 ? { ...m, 'error.type': u.error_code ?? String(status) } : m);
      const served = p.attempts.find((a) => !a.error);
      if (stream && served) this.ttft.record((served.endMs - p.startMs) / 1000, m);
    }
  }

  /** Sends the queued spans and the metrics; failures are logged once and dropped. */
  flush(): Promise<void> {
    this.exporting = this.exporting.then(() => this.export());
    return this.exporting;
  }

  private async export(): Promise<void> {
    const resource = {
      attributes: attributes({ 'service.name': this.opts.serviceName, 'service.version': this.opts.version, 'telemetry.sdk.name': 'tollgate', 'telemetry.sdk.language': 'nodejs' }),
    };
    const scope = { name: 'tollgate', version: this.opts.version };
    const spans = this.spans;
    this.spans = [];
    if (spans.length > 0) await this.post('/v1/traces', { resourceSpans: [{ resource, scopeSpans: [{ scope, spans }] }] });
    if (!this.dirty) return;
    this.dirty = false;
    const now = nanos(Date.now());
    const start = nanos(this.startedMs);
    const metrics = [this.tokenUsage, this.duration, this.ttft].map((h) => h.toOtlp(start, now)).filter((x) => x !== undefined);
    if (metrics.length > 0) await this.post('/v1/metrics', { resourceMetrics: [{ resource, scopeMetrics: [{ scope, metrics }] }] });
  }

  private async post(path: string, body: unknown): Promise<void> {
    const url = `${this.opts.endpoint.replace(/\/+$/, '')}${path}`;
    try {
      const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', ...this.opts.headers }, body: JSON.stringify(body), signal: AbortSignal.timeout(10_000) });
      await res.arrayBuffer();
      if (!res.ok) throw new Error(`HTTP ${res.status}`);
      this.warned = false;
    } catch (err) {
      if (!this.warned) this.log.warn({ err: (err as Error).message, path }, 'OpenTelemetry export failed; the data is dropped');
      this.warned = true;
    }
  }

  async close(): Promise<void> {
    clearInterval(this.timer);
    await this.flush();
  }
}
