import { connect, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestGateway, type TestGateway } from '../helpers/gateway.js';

let gw: TestGateway;
/** A stalled body is only waited for when its credential is good: a bad one is refused from the headers. */
let key: string;

beforeAll(async () => {
  gw = await startTestGateway({ raw: { server: { header_timeout_ms: 400, request_timeout_ms: 800 } } });
  ({ key } = await gw.createKey((await gw.createOrg(1)).mk));
});
afterAll(async () => {
  await gw?.close();
});

function openSocket(): Promise<Socket> {
  const { port } = new URL(gw.url);
  return new Promise((resolve, reject) => {
    const s = connect(Number(port), '127.0.0.1', () => resolve(s));
    s.on('error', reject);
  });
}

/** Resolves with what the server wrote before closing the connection, and when. */
function untilClosed(s: Socket): Promise<{ text: string; afterMs: number }> {
  const started = Date.now();
  let text = '';
  s.on('data', (d) => {
    text += d.toString();
  });
  return new Promise((resolve) => s.on('close', () => resolve({ text, afterMs: Date.now() - started })));
}

describe('SPEC §7 slow and stalled clients are cut off by header and request timeouts', () => {
  it('closes a connection whose headers never finish, near server.header_timeout_ms', async () => {
    const s = await openSocket();
    const closed = untilClosed(s);
    s.write('POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nX-Slow: ');
    const { afterMs } = await closed;
    expect(afterMs).toBeGreaterThanOrEqual(350);
    expect(afterMs).toBeLessThan(3000);
  });

  it('closes a connection whose body stalls, near server.request_timeout_ms', async () => {
    const s = await openSocket();
    const closed = untilClosed(s);
    s.write(`POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${key}\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"model":`);
    const { afterMs } = await closed;
    expect(afterMs).toBeGreaterThanOrEqual(700);
    expect(afterMs).toBeLessThan(4000);
  });
});

describe('SPEC §12 odd headers get the error envelope, never a hung socket', () => {
  it('answers a request with a malformed header line with 400 in the envelope', async () => {
    const s = await openSocket();
    const closed = untilClosed(s);
    s.write('GET /v1/models HTTP/1.1\r\nHost: x\r\nBad Header Without Colon\r\n\r\n');
    const { text } = await closed;
    expect(text).toMatch(/^HTTP\/1\.1 400/);
    const body = JSON.parse(text.slice(text.indexOf('\r\n\r\n') + 4));
    expect(body.error).toMatchObject({ type: 'invalid_request_error' });
    expect(typeof body.error.message).toBe('string');
  });

  it('answers oversized headers with 413 payload_too_large in the envelope', async () => {
    const s = await openSocket();
    const closed = untilClosed(s);
    s.write(`GET /v1/models HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`);
    const { text } = await closed;
    expect(text).toMatch(/^HTTP\/1\.1 413/);
    expect(JSON.parse(text.slice(text.indexOf('\r\n\r\n') + 4)).error.code).toBe('payload_too_large');
  });

  it('keeps serving after all of the above', async () => {
    const res = await fetch(`${gw.url}/healthz`);
    expect(res.status).toBe(200);
  });
});
