// POST /v1/audio/transcriptions and /translations through the official `openai` SDK: the upload
// is streamed to a spool file and on to the upstream, every response_format passes through,
// the charge is the audio's seconds × pricing.per_audio_second, a failure costs nothing, and an
// upload past server.max_audio_bytes is refused with 413 before the client has finished sending.
import { request } from 'node:http';
import OpenAI, { toFile } from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { balanceOf, usageOf } from '../helpers/account.js';
import { startMockUpstream } from '../../src/providers/mock/http-server.js';
import { expectError, MOCK_MODELS, startTestGateway, type TestGateway } from '../helpers/gateway.js';

let gw: TestGateway;
let upstream: Awaited<ReturnType<typeof startMockUpstream>>;
let client: OpenAI;
let key: string;
let mk: string;
const LIMIT = 256 * 1024;

/** A silent 16 kHz mono 16-bit WAV of `seconds`, with `seed` in its samples so files differ. */
function wav(seconds: number, seed = 1): Buffer {
  const dataBytes = Math.round(seconds * 16000) * 2;
  const b = Buffer.alloc(44 + dataBytes);
  b.write('RIFF', 0, 'latin1');
  b.writeUInt32LE(36 + dataBytes, 4);
  b.write('WAVE', 8, 'latin1');
  b.write('fmt ', 12, 'latin1');
  b.writeUInt32LE(16, 16);
  b.writeUInt16LE(1, 20);
  b.writeUInt16LE(1, 22);
  b.writeUInt32LE(16000, 24);
  b.writeUInt32LE(32000, 28);
  b.writeUInt16LE(2, 32);
  b.writeUInt16LE(16, 34);
  b.write('data', 36, 'latin1');
  b.writeUInt32LE(dataBytes, 40);
  b.writeUInt16LE(seed, 44);
  return b;
}

beforeAll(async () => {
  upstream = await startMockUpstream({ settings: { tokensPerSecond: 0, faults: undefined } });
  gw = await startTestGateway({
    raw: {
      server: { max_audio_bytes: LIMIT },
      providers: [{ id: 'mock', type: 'mock' }, { id: 'remote', type: 'openai', base_url: upstream.url, api_key: 'unused' }],
      models: [
        ...MOCK_MODELS,
        { id: 'mock-whisper', kind: 'transcription', pricing: { per_audio_second: 0.0001 }, channels: [{ provider: 'mock', upstream_model: 'mock-whisper' }] },
        { id: 'remote-whisper', kind: 'transcription', pricing: { per_audio_second: 0.0002 }, channels: [{ provider: 'remote', upstream_model: 'whisper-upstream' }] },
        { id: 'mock-transcribe-tokens', kind: 'transcription', pricing: { input_per_mtok: 2.5, output_per_mtok: 10 }, channels: [{ provider: 'mock', upstream_model: 'mock-whisper' }] },
      ],
      limits: { key_rpm: null },
    },
  });
  const org = await gw.createOrg(10);
  mk = org.mk;
  key = (await gw.createKey(mk)).key;
  client = new OpenAI({ baseURL: `${gw.url}/v1`, apiKey: key, maxRetries: 0, timeout: 30_000 });
});

afterAll(async () => {
  await gw?.close();
  await upstream?.close();
});

describe('POST /v1/audio/transcriptions and /translations', () => {
  it('transcribes with the SDK and charges the seconds at the per-second price', async () => {
    const before = await balanceOf(gw.url, mk);
    const t = await client.audio.transcriptions.create({ model: 'mock-whisper', file: await toFile(wav(4), 'speech.wav', { type: 'audio/wav' }) });
    expect(t.text.split(' ')).toHaveLength(10);
    const again = await client.audio.transcriptions.create({ model: 'mock-whisper', file: await toFile(wav(4), 'speech.wav', { type: 'audio/wav' }) });
    expect(again.text).toBe(t.text);
    const after = await balanceOf(gw.url, mk);
    expect(before.balance_usd - after.balance_usd).toBeCloseTo(2 * 4 * 0.0001, 6);
    const rows = (await usageOf(gw, mk)).filter((r) => r.model === 'mock-whisper');
    expect(rows.map((r) => r.cost_usd)).toEqual([0.0004, 0.0004]);
  });

  it('streams the upload over HTTP to an OpenAI-compatible upstream, with the upstream model name', async () => {
    const before = await balanceOf(gw.url, mk);
    const seen: string[] = [];
    upstream.server.prependListener('request', (req) => seen.push(String(req.headers['content-type'])));
    const t = await client.audio.transcriptions.create({ model: 'remote-whisper', file: await toFile(wav(5, 3), 'remote.wav', { type: 'audio/wav' }), response_format: 'verbose_json' });
    expect(t.duration).toBe(5);
    expect(seen.at(-1)).toMatch(/^multipart\/form-data; boundary=/);
    expect(before.balance_usd - (await balanceOf(gw.url, mk)).balance_usd).toBeCloseTo(5 * 0.0002, 6);
  });

  it('passes every response_format through', async () => {
    const file = async () => toFile(wav(2, 7), 'a.wav', { type: 'audio/wav' });
    const verbose = await client.audio.transcriptions.create({ model: 'mock-whisper', file: await file(), response_format: 'verbose_json' });
    expect(verbose.duration).toBe(2);
    expect(verbose.segments?.[0].end).toBe(2);
    const text = await client.audio.transcriptions.create({ model: 'mock-whisper', file: await file(), response_format: 'text' });
    expect(typeof text).toBe('string');
    expect(text).toContain(verbose.text);
    const srt = await client.audio.transcriptions.create({ model: 'mock-whisper', file: await file(), response_format: 'srt' });
    expect(srt).toContain('00:00:00,000 --> 00:00:02,000');
    const vtt = await client.audio.transcriptions.create({ model: 'mock-whisper', file: await file(), response_format: 'vtt' });
    expect(String(vtt).startsWith('WEBVTT')).toBe(true);
  });

  it('translates, billed on /v1/audio/translations', async () => {
    const before = await balanceOf(gw.url, mk);
    const tr = await client.audio.translations.create({ model: 'mock-whisper', file: await toFile(wav(3), 'b.wav', { type: 'audio/wav' }) });
    expect(tr.text.length).toBeGreaterThan(0);
    expect(before.balance_usd - (await balanceOf(gw.url, mk)).balance_usd).toBeCloseTo(3 * 0.0001, 6);
  });

  it('bills a token-priced model from tokens, never free', async () => {
    const before = await balanceOf(gw.url, mk);
    await client.audio.transcriptions.create({ model: 'mock-transcribe-tokens', file: await toFile(wav(2), 'c.wav', { type: 'audio/wav' }) });
    const spent = before.balance_usd - (await balanceOf(gw.url, mk)).balance_usd;
    expect(spent).toBeGreaterThan(0);
  });

  it('charges nothing when the upstream refuses the file, and records the failure', async () => {
    const before = await balanceOf(gw.url, mk);
    const form = new FormData();
    form.append('model', 'mock-whisper');
    form.append('file', new Blob([Buffer.from('not a wav file at all')], { type: 'audio/mpeg' }), 'x.mp3');
    const res = await fetch(`${gw.url}/v1/audio/transcriptions`, { method: 'POST', headers: { authorization: `Bearer ${key}` }, body: form });
    expect(res.status).toBe(400);
    const id = res.headers.get('x-request-id');
    expect((await balanceOf(gw.url, mk)).balance_usd).toBe(before.balance_usd);
    expect((await usageOf(gw, mk)).find((r) => r.request_id === id)).toMatchObject({ status: 400, cost_usd: 0 });
  });

  it('refuses bad uploads with 400s and no charge', async () => {
    const before = await balanceOf(gw.url, mk);
    const send = (form: FormData) => fetch(`${gw.url}/v1/audio/transcriptions`, { method: 'POST', headers: { authorization: `Bearer ${key}` }, body: form });
    const noFile = new FormData();
    noFile.append('model', 'mock-whisper');
    await expectError(await send(noFile), 400, 'missing_required_parameter');
    const badFormat = new FormData();
    badFormat.append('model', 'mock-whisper');
    badFormat.append('response_format', 'mp3');
    badFormat.append('file', new Blob([wav(1)]), 'a.wav');
    await expectError(await send(badFormat), 400, 'invalid_value');
    const unknown = new FormData();
    unknown.append('model', 'mock-whisper');
    unknown.append('voice', 'x');
    unknown.append('file', new Blob([wav(1)]), 'a.wav');
    await expectError(await send(unknown), 400, 'unknown_parameter');
    const chatModel = new FormData();
    chatModel.append('model', 'mock-chat');
    chatModel.append('file', new Blob([wav(1)]), 'a.wav');
    await expectError(await send(chatModel), 400, 'invalid_value');
    const json = await fetch(`${gw.url}/v1/audio/transcriptions`, { method: 'POST', headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' }, body: '{"model":"mock-whisper"}' });
    await expectError(json, 400, 'invalid_value');
    const broken = await fetch(`${gw.url}/v1/audio/transcriptions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'multipart/form-data; boundary=xyz' },
      body: '--xyz\r\nContent-Disposition: form-data; name="model"\r\n\r\nmock-whisper\r\n',
    });
    await expectError(broken, 400, 'invalid_value');
    expect((await balanceOf(gw.url, mk)).balance_usd).toBe(before.balance_usd);
  });

  it('answers 413 payload_too_large as soon as the upload passes server.max_audio_bytes, before the client is done', async () => {
    const boundary = 'limit-test-boundary';
    const total = LIMIT * 256;
    const url = new URL(`${gw.url}/v1/audio/transcriptions`);
    const result = await new Promise<{ status: number; body: string; sentWhenAnswered: number }>((resolve, reject) => {
      let sent = 0;
      let answered = false;
      const req = request(
        { host: url.hostname, port: url.port, path: url.pathname, method: 'POST', headers: { authorization: `Bearer ${key}`, 'content-type': `multipart/form-data; boundary=${boundary}` } },
        (res) => {
          answered = true;
          const sentWhenAnswered = sent;
          let body = '';
          res.on('data', (c) => (body += c));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body, sentWhenAnswered }));
        },
      );
      req.on('error', (err) => {
        if (!answered) reject(err);
      });
      const chunk = Buffer.alloc(16 * 1024, 1);
      const head = `--${boundary}\r\nContent-Disposition: form-data; name="model"\r\n\r\nmock-whisper\r\n--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="big.wav"\r\nContent-Type: audio/wav\r\n\r\n`;
      req.write(head);
      const pump = () => {
        while (!answered && sent < total) {
          sent += chunk.length;
          if (!req.write(chunk)) {
            req.once('drain', pump);
            return;
          }
        }
        if (!answered) req.end(`\r\n--${boundary}--\r\n`);
      };
      pump();
    });
    expect(result.status).toBe(413);
    expect(JSON.parse(result.body).error.code).toBe('payload_too_large');
    expect(result.sentWhenAnswered).toBeLessThan(total);
  });
});
