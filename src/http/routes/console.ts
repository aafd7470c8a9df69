// Serves the built web console (console/dist) at /console: hashed assets cached forever,
// index.html never cached, unknown sub-paths fall back to the app.
import { existsSync, readFileSync } from 'node:fs';
import { extname, join, normalize, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance, FastifyReply } from 'fastify';
import type { RouteContext } from '../app.js';

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.json': 'application/json',
  '.woff2': 'font/woff2',
};

export function consoleDir(): string {
  return resolve(fileURLToPath(new URL('../../../console/dist', import.meta.url)));
}

export function registerConsoleRoutes(app: FastifyInstance, _ctx: RouteContext): void {
  const root = consoleDir();
  const cache = new Map<string, Buffer>();
  const read = (file: string): Buffer | undefined => {
    let b = cache.get(file);
    if (!b && existsSync(file)) {
      b = readFileSync(file);
      cache.set(file, b);
    }
    return b;
  };
  const sendIndex = (reply: FastifyReply) => {
    const index = read(join(root, 'index.html'));
    if (!index) {
      return reply
        .code(503)
        .type('text/html; charset=utf-8')
        .send('<!doctype html><title>Tollgate console</title><p>The console has not been built. Run <code>npm run build</code>.</p>');
    }
    return reply.header('cache-control', 'no-cache').type(TYPES['.html']).send(index);
  };
  app.get('/console', async (_req, reply) => reply.redirect('/console/', 302));
  app.get('/console/', async (_req, reply) => sendIndex(reply));
  app.get<{ Params: { '*': string } }>('/console/*', async (req, reply) => {
    const rel = normalize(req.params['*']).replace(/^(\.\.(\/|\\|$))+/, '');
    const file = join(root, rel);
    if (!file.startsWith(root)) return sendIndex(reply);
    const body = rel && extname(file) ? read(file) : undefined;
    if (!body) return sendIndex(reply);
    const immutable = rel.startsWith('assets/');
    return reply
      .header('cache-control', immutable ? 'public, max-age=31536000, immutable' : 'no-cache')
      .type(TYPES[extname(file)] ?? 'application/octet-stream')
      .send(body);
  });
}
