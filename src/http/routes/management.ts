// The management routes (/api and /admin), registered at start from the table below, their
// modules loaded on the first request that reaches one of them (or the first GET /openapi.json):
// a gateway serving inference never builds their handlers, body schemas or answer schemas.
// Must not declare a route the modules do not, nor miss one: the first load checks both ways.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { RouteContext } from '../app.js';
import type { DocumentedRoute, RouteDoc } from '../openapi.js';

export type ManagementGroup = 'api' | 'admin' | 'audit' | 'adminStats';

/** Every management route, `METHOD /path`, by the module that declares it, in its order there. */
export const MANAGEMENT_ROUTES: Readonly<Record<ManagementGroup, readonly string[]>> = {
  api: [
    'GET /api/balance',
    'GET /api/keys',
    'POST /api/keys',
    'GET /api/keys/:id',
    'PATCH /api/keys/:id',
    'DELETE /api/keys/:id',
    'POST /api/keys/:id/rotate',
    'GET /api/usage',
    'GET /api/usage/:request_id',
    'GET /api/request-logs',
    'PUT /api/request-logs',
    'GET /api/ledger',
    'GET /api/models',
    'GET /api/alerts',
    'PUT /api/alerts',
    'POST /api/alerts/test',
    'POST /api/alerts/secret/rotate',
  ],
  admin: [
    'POST /admin/orgs',
    'GET /admin/orgs',
    'GET /admin/orgs/:id',
    'GET /admin/orgs/:id/keys',
    'POST /admin/orgs/:id/keys',
    'PATCH /admin/orgs/:id',
    'POST /admin/orgs/:id/credits',
    'GET /admin/models',
  ],
  audit: ['GET /api/audit', 'GET /admin/audit'],
  adminStats: ['GET /admin/usage', 'GET /admin/stats', 'GET /admin/stats/orgs'],
};

type Handler = (this: FastifyInstance, req: FastifyRequest, reply: FastifyReply) => unknown;

interface Declared {
  doc?: RouteDoc;
  handler: Handler;
}

type Register = (app: FastifyInstance, ctx: RouteContext) => void;

/** The register functions of the management modules, by group. */
async function loadModules(): Promise<Record<ManagementGroup, Register>> {
  const [api, admin, audit, adminStats] = await Promise.all([import('./api.js'), import('./admin.js'), import('./audit.js'), import('./admin-stats.js')]);
  return { api: api.registerApiRoutes, admin: admin.registerAdminRoutes, audit: audit.registerAuditRoutes, adminStats: adminStats.registerAdminStatsRoutes };
}

/**
 * Runs a module's register function against a stand-in for Fastify that keeps what each route
 * declares. The modules declare routes with a `doc` and a handler, and nothing else: any other
 * option or call would be lost here, so it fails the load instead.
 */
function declaredRoutes(register: Register, ctx: RouteContext): Map<string, Declared> {
  const out = new Map<string, Declared>();
  const declare =
    (method: string) =>
    (url: string, a: { config?: { doc?: RouteDoc } } | Handler, b?: Handler): void => {
      const opts = typeof a === 'function' ? {} : a;
      const handler = typeof a === 'function' ? a : b;
      const extra = [...Object.keys(opts).filter((k) => k !== 'config'), ...Object.keys(opts.config ?? {}).filter((k) => k !== 'doc')];
      if (!handler || extra.length > 0) throw new Error(`${method} ${url}: a lazily loaded management route may declare only config.doc and a handler (got ${extra.join(', ') || 'no handler'})`);
      out.set(`${method} ${url}`, { doc: opts.config?.doc, handler });
    };
  const methods: Record<string, unknown> = { get: declare('GET'), post: declare('POST'), put: declare('PUT'), patch: declare('PATCH'), delete: declare('DELETE') };
  const stand = new Proxy(methods, {
    get(target, name) {
      if (typeof name === 'string' && name in target) return target[name];
      throw new Error(`a lazily loaded management module used app.${String(name)}; only route declarations can be deferred`);
    },
  });
  register(stand as unknown as FastifyInstance, ctx);
  return out;
}

export class ManagementRoutes {
  private loading: Promise<Map<string, Declared>> | undefined;

  /** `routes` is the app's list of documented routes, whose management entries get their docs on the first load. */
  constructor(
    private readonly ctx: RouteContext,
    private readonly routes: DocumentedRoute[],
    private readonly load: () => Promise<Record<ManagementGroup, Register>> = loadModules,
  ) {}

  /** Registers the group's routes in the table's order, each handing its request to the module's handler once loaded. */
  register(app: FastifyInstance, group: ManagementGroup): void {
    for (const route of MANAGEMENT_ROUTES[group]) {
      const [method, url] = route.split(' ');
      const declared = () => this.declared();
      app.route({
        method,
        url,
        handler: async function (this: FastifyInstance, req: FastifyRequest, reply: FastifyReply) {
          const handler = (await declared()).get(route)?.handler;
          if (!handler) throw new Error(`${route} is in MANAGEMENT_ROUTES but no module declares it`);
          return handler.call(this, req, reply);
        },
      });
    }
  }

  /** The app's routes with the management routes' docs filled in (loads the modules). */
  async documented(): Promise<DocumentedRoute[]> {
    await this.declared();
    return this.routes;
  }

  private declared(): Promise<Map<string, Declared>> {
    this.loading ??= this.load().then((modules) => {
      const all = new Map<string, Declared>();
      for (const group of Object.keys(MANAGEMENT_ROUTES) as ManagementGroup[]) {
        const found = declaredRoutes(modules[group], this.ctx);
        const listed = MANAGEMENT_ROUTES[group];
        const missing = listed.filter((r) => !found.has(r));
        const unlisted = [...found.keys()].filter((r) => !listed.includes(r));
        if (missing.length > 0 || unlisted.length > 0) {
          throw new Error(`MANAGEMENT_ROUTES.${group} differs from its module: not declared ${JSON.stringify(missing)}, not listed ${JSON.stringify(unlisted)}`);
        }
        for (const [route, d] of found) all.set(route, d);
      }
      for (const r of this.routes) {
        const d = all.get(`${r.method} ${r.url}`);
        if (d && !r.doc) r.doc = d.doc;
      }
      return all;
    });
    // A failed load (a module that throws) is retried by the next request rather than kept.
    this.loading.catch(() => {
      this.loading = undefined;
    });
    return this.loading;
  }

  /**
   * Reads with the admin token leave a trace in the audit trail (changes record their own
   * action). A hook, so registered at start with the routes, not with the lazily loaded modules.
   */
  auditAdminReads(app: FastifyInstance): void {
    const { gw } = this.ctx;
    // Callback style, not async: it runs after every response, and an async hook costs a promise each time.
    app.addHook('onResponse', (req: FastifyRequest, reply: FastifyReply, done: () => void) => {
      if (req.method === 'GET' && reply.statusCode < 400 && req.url.startsWith('/admin/')) {
        gw.audit.adminUse(req.ip ?? null, `GET ${req.routeOptions.url ?? req.url.split('?')[0]}`).catch((err) => gw.log.warn({ err }, 'audit write of an admin read failed'));
      }
      done();
    });
  }
}
