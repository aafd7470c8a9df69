// Operations: liveness, readiness (store and Redis reachable, not draining), Prometheus metrics.
// Readiness tells anonymous callers only ok / failing: the checks' details (hosts, ports,
// driver messages) are for the operator's admin token.
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { authenticateAdmin } from '../../auth/authenticate.js';
import { authHeaders, type RouteContext } from '../app.js';

export function registerOpsRoutes(app: FastifyInstance, { gw, draining }: RouteContext): void {
  const isOperator = (req: FastifyRequest): boolean => {
    try {
      authenticateAdmin(gw.config.server.admin_token, authHeaders(req));
      return true;
    } catch {
      return false;
    }
  };

  app.get('/healthz', async () => ({ status: 'ok' }));

  app.get('/readyz', async (req, reply) => {
    const checks: Record<string, string> = draining.value ? { draining: 'shutting down' } : await gw.readiness();
    const ok = !draining.value && Object.values(checks).every((c) => c === 'ok');
    const status = ok ? 'ok' : 'failing';
    return reply.code(ok ? 200 : 503).send(isOperator(req) ? { status, checks } : { status });
  });

  app.get('/metrics', async (req, reply) => {
    if (!gw.config.server.public_metrics) authenticateAdmin(gw.config.server.admin_token, authHeaders(req));
    gw.refreshGauges();
    const text = await gw.metrics.registry.metrics();
    return reply.type(gw.metrics.registry.contentType).send(text);
  });
}
