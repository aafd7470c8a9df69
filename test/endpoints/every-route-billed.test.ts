// Every inference route bills and records: for each of chat, messages, responses, embeddings,
// completions, transcriptions, translations and images, a served request moves the org's
// balance by exactly the expected price, a request the upstream fails costs nothing, and both
// usage rows name the route (found through GET /api/usage?route=…).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { balanceOf } from '../helpers/account.js';
import { flushed, MOCK_MODELS, startTestGateway, type TestGateway } from '../helpers/gateway.js';

let gw: TestGateway;
let key: string;
let mk: string;

function wav(seconds: number): Buffer {
  const dataBytes = seconds * 8000;
  const b = Buffer.alloc(44 + dataBytes);
  b.write('RIFF', 0, 'latin1');
  b.writeUInt32LE(36 + dataBytes, 4);
  b.write('WAVEfmt ', 8, 'latin1');
  b.writeUInt32LE(16, 16);
  b.writeUInt16LE(1, 20);
  b.writeUInt16LE(1, 22);
  b.writeUInt32LE(8000, 24);
  b.writeUInt32LE(8000, 28);
  b.writeUInt16LE(1, 32);
  b.writeUInt16LE(8, 34);
  b.write('data', 36, 'latin1');
  b.writeUInt32LE(dataBytes, 40);
  return b;
}

interface Route {
  route: string;
  send(headers: Record<string, string>): Promise<Response>;
  /** the expected charge in USD, from the answer */
  expected(answer: unknown): number;
}

const json = (path: string, body: unknown) => (headers: Record<string, string>) =>
  fetch(`${gw.url}${path}`, { method: 'POST', headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });
const audio = (op: string) => (headers: Record<string, string>) => {
  const form = new FormData();
  form.append('model', 'mock-whisper');
  form.append('file', new Blob([wav(3)], { type: 'audio/wav' }), 'a.wav');
  return fetch(`${gw.url}/v1/audio/${op}`, { method: 'POST', headers: { authorization: `Bearer ${key}`, ...headers }, body: form });
};
type Tokens = { prompt_tokens: number; completion_tokens: number };
const chatPrice = (u: Tokens) => (u.prompt_tokens * 1 + u.completion_tokens * 2) / 1e6;

const ROUTES: Route[] = [
  { route: 'chat', send: json('/v1/chat/completions', { model: 'mock-chat', messages: [{ role: 'user', content: 'price me' }] }), expected: (a) => chatPrice((a as { usage: Tokens }).usage) },
  {
    route: 'messages',
    send: (h) => json('/v1/messages', { model: 'mock-chat', max_tokens: 100, messages: [{ role: 'user', content: 'price me' }] })({ 'anthropic-version': '2023-06-01', ...h }),
    expected: (a) => {
      const u = (a as { usage: { input_tokens: number; output_tokens: number } }).usage;
      return (u.input_tokens * 1 + u.output_tokens * 2) / 1e6;
    },
  },
  {
    route: 'responses',
    send: json('/v1/responses', { model: 'mock-chat', input: 'price me', store: false }),
    expected: (a) => {
      const u = (a as { usage: { input_tokens: number; output_tokens: number } }).usage;
      return (u.input_tokens * 1 + u.output_tokens * 2) / 1e6;
    },
  },
  { route: 'embeddings', send: json('/v1/embeddings', { model: 'pricey-embedding', input: 'price these words' }), expected: (a) => ((a as { usage: { prompt_tokens: number } }).usage.prompt_tokens * 100) / 1e6 },
  { route: 'completions', send: json('/v1/completions', { model: 'mock-chat', prompt: 'price me', max_tokens: 30 }), expected: (a) => chatPrice((a as { usage: Tokens }).usage) },
  { route: 'transcriptions', send: audio('transcriptions'), expected: () => 3 * 0.001 },
  { route: 'translations', send: audio('translations'), expected: () => 3 * 0.001 },
  { route: 'images', send: json('/v1/images/generations', { model: 'mock-image', prompt: 'price me', n: 2 }), expected: () => 2 * 0.05 },
];

async function rowsOf(route: string): Promise<Array<{ request_id: string; surface: string; cost_usd: number; status: number }>> {
  await flushed(gw);
  const res = await fetch(`${gw.url}/api/usage?route=${route}`, { headers: { authorization: `Bearer ${mk}` } });
  expect(res.status).toBe(200);
  return ((await res.json()) as { data: Array<{ request_id: string; surface: string; cost_usd: number; status: number }> }).data;
}

beforeAll(async () => {
  gw = await startTestGateway({
    raw: {
      models: [
        ...MOCK_MODELS,
        { id: 'pricey-embedding', kind: 'embedding', pricing: { input_per_mtok: 100 }, channels: [{ provider: 'mock', upstream_model: 'mock-embedding' }] },
        { id: 'mock-whisper', kind: 'transcription', pricing: { per_audio_second: 0.001 }, channels: [{ provider: 'mock', upstream_model: 'mock-whisper' }] },
        { id: 'mock-image', kind: 'image', pricing: { per_image: 0.05 }, channels: [{ provider: 'mock', upstream_model: 'mock-image' }] },
      ],
      routing: { max_attempts: 1 },
      circuit_breaker: { failure_threshold: 1000, min_requests: 1000 },
      cache: { exact: { enabled: false } },
      limits: { key_rpm: null },
    },
  });
  const org = await gw.createOrg(10);
  mk = org.mk;
  key = (await gw.createKey(mk)).key;
});

afterAll(async () => {
  await gw?.close();
});

describe('every route is billed and recorded under its name', () => {
  for (const r of ROUTES) {
    it(`${r.route}: the ledger moves by the price, a failure costs nothing, both rows name the route`, async () => {
      const before = (await balanceOf(gw.url, mk)).balance_usd;
      const ok = await r.send({});
      const text = await ok.text();
      expect(ok.status, text).toBe(200);
      const expected = r.expected(JSON.parse(text));
      expect(expected).toBeGreaterThan(0);
      const afterOk = (await balanceOf(gw.url, mk)).balance_usd;
      expect(before - afterOk).toBeCloseTo(expected, 6);

      const failed = await r.send({ 'x-mock-fault': 'status=500' });
      expect(failed.status).toBeGreaterThanOrEqual(500);
      expect((await balanceOf(gw.url, mk)).balance_usd).toBe(afterOk);

      const rows = await rowsOf(r.route);
      const okRow = rows.find((x) => x.request_id === ok.headers.get('x-tollgate-request-id'));
      const failRow = rows.find((x) => x.request_id === failed.headers.get('x-tollgate-request-id'));
      expect(okRow).toMatchObject({ surface: r.route, status: 200 });
      expect(okRow!.cost_usd).toBeCloseTo(expected, 6);
      expect(failRow).toMatchObject({ surface: r.route, cost_usd: 0 });
      expect(rows.every((x) => x.surface === r.route)).toBe(true);
    });
  }

  // The rows of answers that finish in the same event-loop turn share one spool write, and each
  // answer waits for it (src/http/surface-answer.ts, spooledTogether): a route outside that helper
  // writes its row alone.
  it('every route settles its row under the answer\'s shared spool write', async () => {
    const usage = gw.running.gateway.usage;
    const deferred = new Map<string, boolean>();
    const enqueue = usage.enqueue.bind(usage);
    usage.enqueue = (item, deferSpool) => {
      deferred.set(item.usage.request_id, deferSpool === true);
      enqueue(item, deferSpool);
    };
    try {
      for (const r of ROUTES) {
        const res = await r.send({});
        expect(res.status, await res.text()).toBe(200);
        expect(deferred.get(res.headers.get('x-tollgate-request-id')!), r.route).toBe(true);
      }
    } finally {
      usage.enqueue = enqueue;
    }
  });

  it('GET /api/usage refuses an unknown route, and route with group_by', async () => {
    const bad = await fetch(`${gw.url}/api/usage?route=fax`, { headers: { authorization: `Bearer ${mk}` } });
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { error: { param: string } }).error.param).toBe('route');
    const grouped = await fetch(`${gw.url}/api/usage?route=chat&group_by=model`, { headers: { authorization: `Bearer ${mk}` } });
    expect(grouped.status).toBe(400);
  });
});
