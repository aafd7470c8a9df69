// SPEC §7 rate limits end to end on one in-process gateway (memory limiter): per-key rpm/tpm
// set through the API, org rpm set by the operator, config defaults, OpenAI's x-ratelimit-*
// headers on every answer, and the TPM correction once a request's real usage is known.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chat, expectError, startTestGateway, type TestGateway } from '../helpers/gateway.js';

const DEFAULT_KEY_RPM = 4;
let gw: TestGateway;

beforeAll(async () => {
  gw = await startTestGateway({
    raw: {
      server: { max_event_loop_lag_ms: 600_000 },
      limits: { key_rpm: DEFAULT_KEY_RPM },
      cache: { exact: { enabled: false } },
    },
  });
});

afterAll(async () => {
  await gw?.close();
});

/** OpenAI's reset duration (Go format: `59ms`, `1s`, `59.5s`, `1m0s`, `1h2m3s`) in milliseconds, or NaN. */
function parseResetDuration(text: string | null): number {
  if (text === null) return Number.NaN;
  const ms = /^(\d+)ms$/.exec(text);
  if (ms) return Number(ms[1]);
  const m = /^(?:(\d+)h)?(?:(\d+)m)?(\d+(?:\.\d+)?)s$/.exec(text);
  if (!m) return Number.NaN;
  return (Number(m[1] ?? 0) * 3600 + Number(m[2] ?? 0) * 60 + Number(m[3])) * 1000;
}

let seq = 0;
/** A fresh prompt each time, so nothing can be served from a cache. */
function body(extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { model: 'mock-chat', messages: [{ role: 'user', content: `rate limit probe ${++seq}` }], ...extra };
}

async function ok(res: Response): Promise<Record<string, unknown>> {
  const text = await res.text();
  if (res.status !== 200) throw new Error(`expected 200, got ${res.status}: ${text}`);
  return JSON.parse(text) as Record<string, unknown>;
}

function rateHeaders(res: Response): Record<string, string | null> {
  const out: Record<string, string | null> = {};
  for (const kind of ['requests', 'tokens']) for (const what of ['limit', 'remaining', 'reset']) out[`${what}-${kind}`] = res.headers.get(`x-ratelimit-${what}-${kind}`);
  return out;
}

describe('SPEC §7 rate limits: rpm and tpm per key and per org, 429 with Retry-After, x-ratelimit-* headers', () => {
  it('admits a key created with rpm 3 three times, then answers 429 rpm_exceeded with an integer Retry-After inside the minute', async () => {
    const { mk } = await gw.createOrg(10);
    const { key } = await gw.createKey(mk, { rpm: 3 });
    const started = Date.now();
    const remaining: string[] = [];
    for (let i = 0; i < 3; i++) {
      const res = await chat(gw.url, key, body());
      await ok(res);
      expect(res.headers.get('x-ratelimit-limit-requests')).toBe('3');
      remaining.push(res.headers.get('x-ratelimit-remaining-requests') ?? '');
    }
    expect(remaining).toEqual(['2', '1', '0']);

    const refused = await chat(gw.url, key, body());
    const elapsed = Date.now() - started;
    const retryAfter = refused.headers.get('retry-after');
    const resetRequests = refused.headers.get('x-ratelimit-reset-requests');
    const err = await expectError(refused, 429, 'rpm_exceeded');
    expect(err.type).toBe('rate_limit_error');
    expect(err.param).toBeNull();
    expect(err.message).toContain('3 requests per minute');
    // Whole seconds, at least 1, no more than the window, and about when the first request leaves it.
    expect(retryAfter).toMatch(/^\d+$/);
    const seconds = Number(retryAfter);
    expect(seconds).toBeGreaterThanOrEqual(1);
    expect(seconds).toBeLessThanOrEqual(60);
    expect(seconds).toBeGreaterThanOrEqual(Math.floor((60_000 - elapsed) / 1000));
    // The refusal carries the same picture in the headers: nothing left, reset matching Retry-After.
    expect(refused.headers.get('x-ratelimit-remaining-requests')).toBe('0');
    expect(Math.ceil(parseResetDuration(resetRequests) / 1000)).toBe(seconds);

    // A refusal consumes nothing, and the limit stays shut for the rest of the window.
    await expectError(await chat(gw.url, key, body()), 429, 'rpm_exceeded');
  });

  it('answers 429 tpm_exceeded once a key with a small tpm has used its tokens for the minute', async () => {
    const { mk } = await gw.createOrg(10);
    const { key } = await gw.createKey(mk, { tpm: 150, rpm: 100 });
    // ~10 prompt tokens + max_tokens 80 reserved; the mock writes 60 words, so ~75 tokens are really used.
    const first = await chat(gw.url, key, body({ max_tokens: 80 }), { 'x-mock-words': '60' });
    const completion = (await ok(first)) as { usage: { total_tokens: number } };
    expect(first.headers.get('x-ratelimit-limit-tokens')).toBe('150');
    const used = completion.usage.total_tokens;
    expect(used).toBeGreaterThan(60);

    // The next one needs ~90 (estimate) but only 150 - used is left.
    const second = await chat(gw.url, key, body({ max_tokens: 80 }), { 'x-mock-words': '60' });
    const retryAfter = Number(second.headers.get('retry-after'));
    const err = await expectError(second, 429, 'tpm_exceeded');
    expect(err.type).toBe('rate_limit_error');
    expect(err.message).toContain('150 tokens per minute');
    expect(Number.isInteger(retryAfter) && retryAfter >= 1 && retryAfter <= 60).toBe(true);

    // A small request still fits in what is left.
    await ok(await chat(gw.url, key, body({ max_tokens: 5 }), { 'x-mock-words': '2' }));
  });

  it('refuses a request that can never fit the tpm with 429 tpm_exceeded saying to lower max_tokens', async () => {
    const { mk } = await gw.createOrg(10);
    const { key } = await gw.createKey(mk, { tpm: 100 });
    const err = await expectError(await chat(gw.url, key, body({ max_tokens: 500 })), 429, 'tpm_exceeded');
    expect(err.message).toMatch(/max_tokens/);
    // Nothing was consumed: a request that fits is admitted at once.
    await ok(await chat(gw.url, key, body({ max_tokens: 10 }), { 'x-mock-words': '3' }));
  });

  it('enforces an org rpm set with PATCH /admin/orgs/{id} across all of its keys', async () => {
    const { orgId, mk } = await gw.createOrg(10);
    const a = await gw.createKey(mk, { rpm: 100 });
    const b = await gw.createKey(mk, { rpm: 100 });
    const patched = await gw.admin(`/admin/orgs/${orgId}`, { method: 'PATCH', body: { rpm: 2 } });
    expect(patched.status).toBe(200);

    const first = await chat(gw.url, a.key, body());
    await ok(first);
    // The binding limit (the org's) is the one reported.
    expect(first.headers.get('x-ratelimit-limit-requests')).toBe('2');
    expect(first.headers.get('x-ratelimit-remaining-requests')).toBe('1');
    await ok(await chat(gw.url, b.key, body()));
    const refused = await chat(gw.url, a.key, body());
    expect(Number(refused.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    const err = await expectError(refused, 429, 'rpm_exceeded');
    expect(err.message).toMatch(/organisation/);
    await expectError(await chat(gw.url, b.key, body()), 429, 'rpm_exceeded');

    // Another org is not affected.
    const other = await gw.createOrg(10);
    const c = await gw.createKey(other.mk);
    await ok(await chat(gw.url, c.key, body()));
  });

  it('applies limits.key_rpm from the config to a key created without rpm, and a key rpm overrides it', async () => {
    const { mk } = await gw.createOrg(10);
    const { key } = await gw.createKey(mk);
    for (let i = 0; i < DEFAULT_KEY_RPM; i++) {
      const res = await chat(gw.url, key, body());
      await ok(res);
      expect(res.headers.get('x-ratelimit-limit-requests')).toBe(String(DEFAULT_KEY_RPM));
    }
    await expectError(await chat(gw.url, key, body()), 429, 'rpm_exceeded');

    const roomy = await gw.createKey(mk, { rpm: DEFAULT_KEY_RPM + 2 });
    for (let i = 0; i < DEFAULT_KEY_RPM + 2; i++) await ok(await chat(gw.url, roomy.key, body()));
    await expectError(await chat(gw.url, roomy.key, body()), 429, 'rpm_exceeded');
  });

  it('puts x-ratelimit-limit/remaining/reset-requests on every 200, streamed or not, with remaining decreasing and an OpenAI duration', async () => {
    const { mk } = await gw.createOrg(10);
    const { key } = await gw.createKey(mk, { rpm: 10 });
    const seen: Array<Record<string, string | null>> = [];
    for (let i = 0; i < 4; i++) {
      const stream = i % 2 === 1;
      const res = await chat(gw.url, key, body(stream ? { stream: true } : {}));
      expect(res.status).toBe(200);
      const text = await res.text();
      if (stream) expect(text).toContain('data: [DONE]');
      seen.push(rateHeaders(res));
    }
    expect(seen.map((h) => h['limit-requests'])).toEqual(['10', '10', '10', '10']);
    expect(seen.map((h) => h['remaining-requests'])).toEqual(['9', '8', '7', '6']);
    for (const h of seen) {
      expect(h['reset-requests']).toMatch(/^(\d+ms|(\d+h)?(\d+m)?\d+(\.\d+)?s)$/);
      const ms = parseResetDuration(h['reset-requests']);
      // The oldest request of this key leaves the one-minute window within the minute.
      expect(ms).toBeGreaterThan(0);
      expect(ms).toBeLessThanOrEqual(60_000);
      // No TPM applies to this key: no -tokens headers.
      expect(h['limit-tokens']).toBeNull();
      expect(h['remaining-tokens']).toBeNull();
      expect(h['reset-tokens']).toBeNull();
    }
  });

  it('adds the x-ratelimit-*-tokens trio when a TPM applies, on streamed and non-streamed answers', async () => {
    const { mk } = await gw.createOrg(10);
    const { key } = await gw.createKey(mk, { tpm: 100_000 });
    for (const stream of [false, true]) {
      const res = await chat(gw.url, key, body({ max_tokens: 50, ...(stream ? { stream: true } : {}) }));
      expect(res.status).toBe(200);
      await res.text();
      const h = rateHeaders(res);
      expect(h['limit-tokens']).toBe('100000');
      expect(Number(h['remaining-tokens'])).toBeLessThan(100_000);
      expect(Number(h['remaining-tokens'])).toBeGreaterThan(100_000 - 200);
      expect(h['reset-tokens']).toMatch(/^(\d+ms|(\d+h)?(\d+m)?\d+(\.\d+)?s)$/);
      expect(h['limit-requests']).toBe(String(DEFAULT_KEY_RPM));
    }
  });

  it('reserves prompt + max_tokens of TPM up front and corrects it to the real usage once the request ends', async () => {
    const { mk } = await gw.createOrg(10);
    const limit = 20_000;
    const maxTokens = 3000;
    const { key } = await gw.createKey(mk, { tpm: limit, rpm: 20 });
    // One prompt throughout (the cache is off), so every request reserves exactly the same.
    const req = () => ({ model: 'mock-chat', messages: [{ role: 'user', content: 'tpm correction probe' }], max_tokens: maxTokens });

    const first = await chat(gw.url, key, req(), { 'x-mock-words': '5' });
    const usage1 = ((await ok(first)) as { usage: { total_tokens: number } }).usage;
    const remaining1 = Number(first.headers.get('x-ratelimit-remaining-tokens'));
    // Up front: the prompt estimate plus the whole max_tokens.
    const reserved = limit - remaining1;
    expect(reserved).toBeGreaterThanOrEqual(maxTokens);
    expect(reserved).toBeLessThan(maxTokens + 100);
    expect(usage1.total_tokens).toBeLessThan(50);

    // The next request sees the first one at its real size, not at its reservation.
    const second = await chat(gw.url, key, req(), { 'x-mock-words': '5' });
    await ok(second);
    const remaining2 = Number(second.headers.get('x-ratelimit-remaining-tokens'));
    expect(remaining2).toBe(limit - usage1.total_tokens - reserved);

    // Same for a stream: reserved up front, corrected when it ends.
    const third = await chat(gw.url, key, req(), { 'x-mock-words': '5' });
    await ok(third);
    const s = await chat(gw.url, key, { ...req(), stream: true, stream_options: { include_usage: true } }, { 'x-mock-words': '5' });
    const text = await s.text();
    expect(text).toContain('data: [DONE]');
    const usageChunk = text
      .split('\n\n')
      .filter((e) => e.startsWith('data: {'))
      .map((e) => JSON.parse(e.slice(6)) as { usage?: { total_tokens: number } })
      .find((c) => c.usage);
    expect(usageChunk?.usage).toBeDefined();
    const remainingBeforeStreamEnds = Number(s.headers.get('x-ratelimit-remaining-tokens'));
    const after = await chat(gw.url, key, req(), { 'x-mock-words': '5' });
    await ok(after);
    // Before: the stream counted at `reserved`; after it ended it counts at its real size, and the
    // new request takes `reserved` again.
    expect(Number(after.headers.get('x-ratelimit-remaining-tokens'))).toBe(remainingBeforeStreamEnds - usageChunk!.usage!.total_tokens);
  });
});
