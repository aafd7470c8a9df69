// The floor: a bare Node pass-through proxy (node:http + undici, bearer check, nothing else).
// Tollgate cannot beat the cost of this one HTTP hop.
import { createServer } from 'node:http';
import { Agent } from 'undici';

const [, , portArg, upstream, key] = process.argv;
const agent = new Agent({ connections: 256, keepAliveTimeout: 30_000 });
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
server.listen(Number(portArg), '127.0.0.1', () => process.stdout.write('ready\n'));
