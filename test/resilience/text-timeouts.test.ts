// A non-stream upstream answer through the HTTP transport keeps its timeouts with one timer of
// its own (TextReader): the whole request's time until the answer's headers, then the idle time
// between the body's chunks, restarted by every chunk.
import { createServer, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { providerSchema } from '../../src/config/schema.js';
import { GatewayError } from '../../src/core/errors.js';
import { ClientSignal } from '../../src/core/request-signal.js';
import { createHttpTransport, type Transport } from '../../src/routing/transport.js';

const IDLE_MS = 300;

let server: Server;
let base: string;
let transport: Transport;
/** Responses the scenarios left open: ended after the suite. */
const open: ServerResponse[] = [];

beforeAll(async () => {
  server = createServer((req, res) => {
    open.push(res);
    switch (req.url) {
      case '/hang':
        return;
      case '/stall':
        res.writeHead(200, { 'content-type': 'application/json' });
        res.write('{"half": ');
        return;
      case '/paced': {
        // Five chunks a third of the idle time apart: the answer takes longer than the idle
        // time, but no gap between two chunks does.
        res.writeHead(200, { 'content-type': 'application/json' });
        const parts = ['{"a":', '1,', '"b":', '2', '}'];
        const next = () => {
          const part = parts.shift();
          if (part === undefined) return void res.end();
          res.write(part);
          setTimeout(next, IDLE_MS / 3);
        };
        return next();
      }
      default:
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end('{"ok":true}');
    }
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  transport = createHttpTransport(providerSchema.parse({ id: 'up', type: 'openai', base_url: base, api_key: 'x', timeouts: { first_byte_ms: 250, idle_ms: IDLE_MS } }));
});

afterAll(async () => {
  for (const res of open) res.destroy();
  await transport.close();
  server.close();
});

const send = (path: string, timeoutMs?: number) => transport.sendForText!({ url: base + path, method: 'POST', headers: {}, body: '{}', timeoutMs }, new ClientSignal(), 1 << 20);

async function failure(p: Promise<unknown>): Promise<GatewayError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(GatewayError);
  return err as GatewayError;
}

describe('the timeouts of a non-stream upstream answer', () => {
  it('ends a request whose answer does not come within its time, as a long generation', async () => {
    const err = await failure(send('/hang', 200));
    expect(err.code).toBe('timeout');
    expect(err.message).toContain('did not finish the answer');
  });

  it('waits timeouts.first_byte_ms for the headers of a request with no time of its own', async () => {
    const err = await failure(send('/hang'));
    expect(err.code).toBe('timeout');
    expect(err.message).toContain('did not start answering in time');
    expect(err.retryable).toBe(true);
  });

  it('ends an answer whose body stops past timeouts.idle_ms with the idle timeout', async () => {
    const err = await failure(send('/stall', 10_000));
    expect(err.code).toBe('timeout');
    expect(err.message).toContain('idle timeout');
  });

  it('keeps an answer that takes longer than the idle time while every chunk comes within it', async () => {
    const res = await send('/paced', 10_000);
    expect(res.status).toBe(200);
    expect(JSON.parse(res.text)).toEqual({ a: 1, b: 2 });
  });
});
