// The floor: a bare Node pass-through proxy (node:http + undici, bearer check, nothing else).
// Tollgate cannot beat the cost of this one HTTP hop.
//   node bench/floor-proxy.mjs <port> <upstream base URL> <key> [--h2] [--unbounded]
// --h2 speaks HTTP/2 without upgrade (h2c) to the upstream, 100 streams per connection, as
// Tollgate does with `http2: true`; --unbounded opens as many upstream connections as requests
// need (bench/streams-10k.mjs holds thousands of streams open at once).
import { createServer } from 'node:http';
import { Agent } from 'undici';

const [, , portArg, upstream, key, ...flags] = process.argv;
const h2 = flags.includes('--h2');
const agent = new Agent({
  connections: flags.includes('--unbounded') ? null : 256,
  keepAliveTimeout: 30_000,
  ...(h2 ? { allowH2: true, pipelining: 100, maxConcurrentStreams: 100, connect: { allowH2: true, useH2c: true } } : {}),
  ...(flags.includes('--unbounded') ? { headersTimeout: 0, bodyTimeout: 0 } : {}),
});
const origin = new URL(upstream).origin;
const base = new URL(upstream).pathname.replace(/\/$/, '');

const server = createServer((req, res) => {
  req.socket.setNoDelay(true);
  if (req.headers.authorization !== `Bearer ${key}`) {
    res.writeHead(401, { 'content-type': 'application/json' }).end('{"error":{"message":"bad key"}}');
    return;
  }
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', async () => {
    try {
      const up = await agent.request({
        origin,
        path: base + req.url.replace(/^\/v1/, ''),
        method: req.method,
        headers: { 'content-type': 'application/json' },
        body: Buffer.concat(chunks),
        // Over HTTP/2 undici multiplexes only requests marked idempotent.
        ...(h2 ? { idempotent: true } : {}),
      });
      res.writeHead(up.statusCode, { 'content-type': up.headers['content-type'] ?? 'application/json' });
      for await (const c of up.body) res.write(c);
      res.end();
    } catch {
      res.destroy();
    }
  });
});
server.keepAliveTimeout = 60_000;
server.listen(Number(portArg), '127.0.0.1', 8192, () => process.stdout.write('ready\n'));
