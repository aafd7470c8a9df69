// Authentication from the headers alone, before Fastify reads the body: a request with a bad
// credential is refused without its body being buffered or parsed, so a flood of large bodies
// with bad keys costs the gateway almost nothing. Reads only the in-memory view; the route
// handlers still authenticate as before (the same checks, so the answer cannot differ).
import type { FastifyRequest } from 'fastify';
import { authenticateAdmin, authenticateKeyOrExplain, type Principal } from '../auth/authenticate.js';
import type { KeyKind } from '../store/types.js';
import type { TenantView } from '../tenants/view.js';
import type { ClientSignal } from '../core/request-signal.js';
import { authHeaders } from './auth-headers.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** The inference key that authenticated this request before its body was read (routes under /v1). */
    principal: Principal | undefined;
    /** Set when the answer went out as an event stream (metrics label it so). */
    streamed: boolean;
    /** An inference request's client signal, aborted when the connection closes before the answer is complete. */
    clientSignal: ClientSignal | undefined;
  }
}

const INFERENCE: readonly KeyKind[] = ['sk'];
const MANAGEMENT: readonly KeyKind[] = ['mk'];
const EITHER: readonly KeyKind[] = ['sk', 'mk'];

/** The credential a matched route needs, by its path; undefined for routes that need none. */
function credentialFor(route: string): readonly KeyKind[] | 'admin' | undefined {
  if (route.startsWith('/v1/')) return INFERENCE;
  if (route === '/api/balance') return EITHER;
  if (route.startsWith('/api/')) return MANAGEMENT;
  if (route.startsWith('/admin/')) return 'admin';
  return undefined;
}

/**
 * Throws the request's authentication error, if it has one; unmatched paths are left to the
 * 404/405 handler. Returns the key's principal when the route takes a key.
 */
export function authenticateEarly(view: TenantView, adminToken: string | undefined, req: FastifyRequest): Principal | undefined {
  const route = req.routeOptions.url;
  if (route === undefined) return undefined;
  const need = credentialFor(route);
  if (need === undefined) return undefined;
  if (need === 'admin') {
    authenticateAdmin(adminToken, authHeaders(req));
    return undefined;
  }
  return authenticateKeyOrExplain(view, adminToken, authHeaders(req), need);
}

/** True while the request still has body bytes the server has not read. */
export function bodyPending(req: FastifyRequest): boolean {
  const length = req.headers['content-length'];
  return (length !== undefined && length !== '0') || req.headers['transfer-encoding'] !== undefined;
}
