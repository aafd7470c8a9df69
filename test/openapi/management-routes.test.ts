// The management routes (/api, /admin) are registered at start and their modules loaded by the
// first request that reaches one of them; their OpenAPI declarations arrive with the modules.
import Fastify, { type FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RouteContext } from '../../src/http/app.js';
import type { DocumentedRoute } from '../../src/http/openapi.js';
import { MANAGEMENT_ROUTES, type ManagementGroup, ManagementRoutes } from '../../src/http/routes/management.js';
import { startTestGateway, type TestGateway } from '../helpers/gateway.js';

const GROUPS = Object.keys(MANAGEMENT_ROUTES) as ManagementGroup[];
const isManagement = (url: string) => url.startsWith('/api/') || url.startsWith('/admin/');

describe('management routes in a running gateway', () => {
  let gw: TestGateway;
  beforeAll(async () => {
    gw = await startTestGateway();
  });
  afterAll(async () => {
    await gw?.close();
  });

  it('serves every /api and /admin route from the table, whose declarations arrive with the first request', async () => {
    const registered = gw.running.http.routes.filter((r) => isManagement(r.url));
    expect(registered.map((r) => `${r.method} ${r.url}`).sort()).toEqual(GROUPS.flatMap((g) => MANAGEMENT_ROUTES[g]).sort());
    expect(registered.filter((r) => r.doc), 'declarations present before any management request').toEqual([]);
    const res = await gw.admin('/admin/orgs');
    expect(res.status).toBe(200);
    expect(registered.filter((r) => !r.doc).map((r) => `${r.method} ${r.url}`)).toEqual([]);
  });
});

type Modules = Record<ManagementGroup, (app: FastifyInstance, ctx: RouteContext) => void>;

/** Stand-in modules that declare exactly the table's routes, each answering with its name. */
function tableModules(edit: (group: ManagementGroup, routes: string[]) => string[] = (_g, r) => r): Modules {
  const out = {} as Modules;
  for (const group of GROUPS) {
    out[group] = (app) => {
      for (const route of edit(group, [...MANAGEMENT_ROUTES[group]])) {
        const [method, url] = route.split(' ');
        const declare = app[method.toLowerCase() as 'get'].bind(app) as (url: string, opts: object, handler: () => Promise<unknown>) => void;
        declare(url, { config: { doc: { summary: route, auth: 'none', responses: {} } } }, async () => ({ route }));
      }
    };
  }
  return out;
}

async function appWith(load: () => Promise<Modules>): Promise<{ app: FastifyInstance; routes: DocumentedRoute[]; management: ManagementRoutes }> {
  const app = Fastify();
  const routes: DocumentedRoute[] = [];
  app.addHook('onRoute', (r) => {
    if (r.method !== 'HEAD') routes.push({ method: String(r.method), url: r.url });
  });
  const management = new ManagementRoutes({} as RouteContext, routes, load);
  for (const group of GROUPS) management.register(app, group);
  await app.ready();
  return { app, routes, management };
}

describe('loading the management modules', () => {
  it('hands each request to the handler its module declares, loading the modules once', async () => {
    let loads = 0;
    const { app } = await appWith(async () => {
      loads++;
      return tableModules();
    });
    const [a, b] = await Promise.all([app.inject({ method: 'GET', url: '/api/keys' }), app.inject({ method: 'POST', url: '/admin/orgs/org_1/credits' })]);
    expect(a.json()).toEqual({ route: 'GET /api/keys' });
    expect(b.json()).toEqual({ route: 'POST /admin/orgs/:id/credits' });
    expect((await app.inject({ method: 'GET', url: '/admin/stats' })).json()).toEqual({ route: 'GET /admin/stats' });
    expect(loads).toBe(1);
    await app.close();
  });

  it('fills in the declarations of the app\'s routes when the document asks for them', async () => {
    const { app, routes, management } = await appWith(async () => tableModules());
    expect(routes.every((r) => r.doc === undefined)).toBe(true);
    const documented = await management.documented();
    expect(documented.map((r) => r.doc?.summary)).toEqual(documented.map((r) => `${r.method} ${r.url}`));
    await app.close();
  });

  it('retries a load that failed on the next request', async () => {
    let attempt = 0;
    const { app } = await appWith(async () => {
      if (++attempt === 1) throw new Error('disk hiccup');
      return tableModules();
    });
    expect((await app.inject({ method: 'GET', url: '/api/balance' })).statusCode).toBe(500);
    expect((await app.inject({ method: 'GET', url: '/api/balance' })).json()).toEqual({ route: 'GET /api/balance' });
    await app.close();
  });

  it('refuses a module that declares a route the table lacks, or lacks one the table lists', async () => {
    const extra = await appWith(async () => tableModules((g, r) => (g === 'api' ? [...r, 'GET /api/new'] : r)));
    await expect(extra.management.documented()).rejects.toThrow(/MANAGEMENT_ROUTES\.api .*not listed \["GET \/api\/new"\]/);
    await extra.app.close();
    const missing = await appWith(async () => tableModules((g, r) => (g === 'admin' ? r.filter((x) => x !== 'GET /admin/models') : r)));
    await expect(missing.management.documented()).rejects.toThrow(/MANAGEMENT_ROUTES\.admin .*not declared \["GET \/admin\/models"\]/);
    await missing.app.close();
  });

  it('refuses a module route with options that deferring would lose', async () => {
    const modules = tableModules();
    modules.audit = (app) => {
      app.get('/api/audit', { config: { doc: { summary: 'x', auth: 'none', responses: {} } }, bodyLimit: 10 }, async () => ({}));
      app.get('/admin/audit', async () => ({}));
    };
    const { app, management } = await appWith(async () => modules);
    await expect(management.documented()).rejects.toThrow(/GET \/api\/audit: .*bodyLimit/);
    await app.close();
  });
});
