// Expect: 100-continue over a raw socket. A client that holds its body back until the server
// asks for it is asked only when the gateway reads the body: a request refused from its headers
// (bad key, unknown route, body over the limit) gets its final answer with no 100 before it,
// and the connection is closed after it, since the client may still send the body it held.
import { connect, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestGateway, type TestGateway } from '../helpers/gateway.js';

let gw: TestGateway;
let sk: string;

beforeAll(async () => {
  gw = await startTestGateway({ raw: { server: { max_body_bytes: 100_000 } } });
  const { mk } = await gw.createOrg(1);
  ({ key: sk } = await gw.createKey(mk));
});
afterAll(() => gw?.close());

/** One raw connection: everything the server sent, and whether it closed. */
class RawConnection {
  text = '';
  closed = false;
  private readonly socket: Socket;
  private wake: (() => void) | undefined;

  private constructor(socket: Socket) {
    this.socket = socket;
    socket.on('data', (d: Buffer) => {
      this.text += d.toString('utf8');
      this.wake?.();
    });
    socket.on('close', () => {
      this.closed = true;
      this.wake?.();
    });
    socket.on('error', () => {});
  }

  static open(): Promise<RawConnection> {
    const { port } = new URL(gw.url);
    return new Promise((resolve, reject) => {
      const s = connect(Number(port), '127.0.0.1');
      s.once('connect', () => resolve(new RawConnection(s)));
      s.once('error', reject);
    });
  }

  write(text: string): void {
    this.socket.write(text);
  }

  /** Resolves once `ready` holds for what has arrived (or rejects when the socket closed first). */
  async until(ready: () => boolean): Promise<void> {
    while (!ready()) {
      if (this.closed) throw new Error(`connection closed; received: ${this.text}`);
      await new Promise<void>((resolve) => {
        this.wake = resolve;
      });
      this.wake = undefined;
    }
  }

  /** Resolves with the final answers received so far once the last one is complete. */
  async finalAnswer(): Promise<{ interim: string[]; status: number; body: unknown }> {
    let parsed: { interim: string[]; status: number; body: unknown } | undefined;
    await this.until(() => {
      parsed = parse(this.text);
      return parsed !== undefined;
    });
    return parsed!;
  }

  async closedByServer(): Promise<void> {
    if (this.closed) return;
    await new Promise<void>((resolve) => this.socket.once('close', () => resolve()));
  }

  end(): void {
    this.socket.destroy();
  }
}

/** Splits the received bytes into interim (1xx) status lines and one complete final answer. */
function parse(text: string): { interim: string[]; status: number; body: unknown } | undefined {
  const interim: string[] = [];
  let rest = text;
  for (;;) {
    const end = rest.indexOf('\r\n\r\n');
    if (end < 0) return undefined;
    const head = rest.slice(0, end);
    const status = Number(head.slice(9, 12));
    rest = rest.slice(end + 4);
    if (status >= 100 && status < 200) {
      interim.push(head.split('\r\n')[0]!);
      continue;
    }
    const length = Number(/content-length: (\d+)/i.exec(head)?.[1] ?? -1);
    if (length < 0 || Buffer.byteLength(rest) < length) return undefined;
    return { interim, status, body: JSON.parse(rest.slice(0, length)) };
  }
}

const BODY = JSON.stringify({ model: 'mock-chat', messages: [{ role: 'user', content: 'hi' }] });

function head(path: string, credential: string | undefined, length: number): string {
  const auth = credential === undefined ? '' : `Authorization: Bearer ${credential}\r\n`;
  return `POST ${path} HTTP/1.1\r\nHost: x\r\n${auth}Content-Type: application/json\r\nContent-Length: ${length}\r\nExpect: 100-continue\r\n\r\n`;
}

describe('Expect: 100-continue', () => {
  it('answers a bad key with 401 and no 100 Continue, then closes the connection', async () => {
    const c = await RawConnection.open();
    c.write(head('/v1/chat/completions', 'sk-tg-notarealkeyatallnotarealkeyatall000000', Buffer.byteLength(BODY)));
    const answer = await c.finalAnswer();
    expect(answer.interim).toEqual([]);
    expect(answer.status).toBe(401);
    expect(answer.body).toMatchObject({ error: { code: 'invalid_api_key' } });
    await c.closedByServer();
  });

  it('answers an unknown route with 404 and no 100 Continue', async () => {
    const c = await RawConnection.open();
    c.write(head('/v1/nowhere', sk, Buffer.byteLength(BODY)));
    const answer = await c.finalAnswer();
    expect(answer.interim).toEqual([]);
    expect(answer.status).toBe(404);
    await c.closedByServer();
  });

  it('answers a body over the limit with 413 and no 100 Continue', async () => {
    const c = await RawConnection.open();
    c.write(head('/v1/chat/completions', sk, 5_000_000));
    const answer = await c.finalAnswer();
    expect(answer.interim).toEqual([]);
    expect(answer.status).toBe(413);
    await c.closedByServer();
  });

  it('sends 100 Continue to a good key, then answers the body with 200 on a reusable connection', async () => {
    const c = await RawConnection.open();
    c.write(head('/v1/chat/completions', sk, Buffer.byteLength(BODY)));
    await c.until(() => c.text.includes('\r\n\r\n'));
    expect(c.text).toBe('HTTP/1.1 100 Continue\r\n\r\n');
    c.write(BODY);
    const answer = await c.finalAnswer();
    expect(answer.interim).toEqual(['HTTP/1.1 100 Continue']);
    expect(answer.status).toBe(200);
    expect(answer.body).toMatchObject({ object: 'chat.completion' });
    // The connection stays in step: a second request on it is answered too.
    c.text = '';
    c.write(`GET /v1/models HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${sk}\r\n\r\n`);
    expect((await c.finalAnswer()).status).toBe(200);
    c.end();
  });
});
