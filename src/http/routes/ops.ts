// Operations: liveness, readiness (store and Redis reachable, not draining), Prometheus metrics.
import type { FastifyInstance } from 'fastify';
import { authenticateAdmin } from '../../auth/authenticate.js';
import { authHeaders, type RouteContext } from '../app.js';

export function registerOpsRoutes(app: FastifyInstance, { gw, draining }: RouteContext): void {
  app.get('/healthz', async () => ({ status: 'ok' }));

  app.get('/readyz', async (_req, reply) => {
    if (draining.value) return reply.code(503).send({ status: 'draining' });
    const checks = await gw.readiness();
    const ok = Object.values(checks).every((c) => c === 'ok');
    return reply.code(ok ? 200 : 503).send({ status: ok ? 'ready' : 'not_ready', checks });
  });

  app.get('/metrics', async (req, reply) => {
    if (!gw.config.server.public_metrics) authenticateAdmin(gw.config.server.admin_token, authHeaders(req));
    gw.refreshGauges();
    const text = await gw.metrics.registry.metrics();
    return reply.type(gw.metrics.registry.contentType).send(text);
  });
}
