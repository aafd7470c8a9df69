// Cheap attacks stay cheap: a request with a bad credential is refused from its headers,
// before its body is read, so a flood of large bodies with bad keys is not parsed (the answer
// arrives while most of the body has not even been sent). The latency figure under such a
// flood is measured by bench/auth-flood.mjs, not here.
import { connect, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_TOKEN, startTestGateway, type TestGateway } from '../helpers/gateway.js';

let gw: TestGateway;
let mk: string;
let sk: string;

beforeAll(async () => {
  // Without early authentication a half-sent body would wait for this timeout and get 408.
  gw = await startTestGateway({ raw: { server: { request_timeout_ms: 20_000 } } });
  ({ mk } = await gw.createOrg(1));
  ({ key: sk } = await gw.createKey(mk));
});
afterAll(() => gw?.close());

const DECLARED = 9_900_000;
const SENT = 64 * 1024;

/**
 * Sends the headers and only the first 64 KiB of a declared 9.9 MB body, then waits for the
 * answer without sending more. Resolves with the answer and whether the server closed the socket.
 */
function halfSentBody(path: string, credential: string | undefined): Promise<{ status: number; code: string; closed: boolean }> {
  const { port } = new URL(gw.url);
  return new Promise((resolve, reject) => {
    const s: Socket = connect(Number(port), '127.0.0.1');
    let text = '';
    let settled = false;
    const finish = (closed: boolean) => {
      if (settled) return;
      const end = text.indexOf('\r\n\r\n');
      const length = Number(/content-length: (\d+)/i.exec(text)?.[1] ?? -1);
      if (!closed && (end < 0 || Buffer.byteLength(text.slice(end + 4)) < length)) return;
      settled = true;
      const body = JSON.parse(text.slice(end + 4)) as { error: { code: string } };
      // Give the server's close a chance to arrive with the answer when it sends one.
      if (closed) resolve({ status: Number(text.slice(9, 12)), code: body.error.code, closed });
      else s.once('close', () => resolve({ status: Number(text.slice(9, 12)), code: body.error.code, closed: true }));
    };
    s.on('data', (d) => {
      text += d.toString();
      finish(false);
    });
    s.on('close', () => finish(true));
    s.on('error', (err) => {
      if (!settled && text === '') reject(err);
    });
    s.on('connect', () => {
      const auth = credential === undefined ? '' : `Authorization: Bearer ${credential}\r\n`;
      s.write(`POST ${path} HTTP/1.1\r\nHost: x\r\n${auth}Content-Type: application/json\r\nContent-Length: ${DECLARED}\r\n\r\n`);
      s.write(`{"model":"mock-chat","messages":[{"role":"user","content":"${'a'.repeat(SENT)}`);
    });
  });
}

describe('a bad credential is refused before the body is read', () => {
  it('answers 401 on /v1 while the 9.9 MB body is still unsent, and closes the connection', async () => {
    const r = await halfSentBody('/v1/chat/completions', 'sk-tg-notarealkeyatallnotarealkeyatall000000');
    expect(r).toEqual({ status: 401, code: 'invalid_api_key', closed: true });
  });

  it('answers 401 missing_api_key without a credential', async () => {
    expect(await halfSentBody('/v1/chat/completions', undefined)).toMatchObject({ status: 401, code: 'missing_api_key' });
  });

  it('answers 403 wrong_key_type for a management key on /v1 before the body', async () => {
    expect(await halfSentBody('/v1/chat/completions', mk)).toMatchObject({ status: 403, code: 'wrong_key_type' });
  });

  it('refuses an inference key on a management route before the body', async () => {
    expect(await halfSentBody('/api/keys', sk)).toMatchObject({ status: 403, code: 'wrong_key_type' });
  });

  it('refuses a wrong admin token before the body', async () => {
    expect(await halfSentBody('/admin/orgs', `${ADMIN_TOKEN}-wrong`)).toMatchObject({ status: 401, code: 'invalid_api_key' });
  });
});

describe('early authentication changes nothing else', () => {
  it('still answers an unknown path with 404, not 401', async () => {
    const res = await fetch(`${gw.url}/v1/nowhere`, { method: 'POST', body: '{}' });
    expect(res.status).toBe(404);
  });

  it('still serves a good key', async () => {
    const res = await fetch(`${gw.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${sk}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'mock-chat', messages: [{ role: 'user', content: 'hi' }] }),
    });
    expect(res.status).toBe(200);
  });

  it('lets an inference key read /api/balance', async () => {
    const res = await fetch(`${gw.url}/api/balance`, { headers: { authorization: `Bearer ${sk}` } });
    expect(res.status).toBe(200);
  });
});
