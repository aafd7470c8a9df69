// Webhooks cannot reach inside: inside addresses (loopback, private, link-local, CGNAT,
// multicast, unspecified, metadata; IPv4, IPv6, IPv4-mapped, decimal/octal/hex forms) are
// refused on the address actually dialled unless the operator allow-lists them; the test call
// reports only delivered / failed with the HTTP status. Each org signs with its own secret
// (shown once, rotatable), over a timestamp, so a captured delivery cannot be replayed.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AlertService, signDelivery, TargetPolicy, verifyDelivery } from '../../src/alerts/index.js';
import type { Config } from '../../src/config/schema.js';
import { createLogger } from '../../src/observability/logger.js';
import { startTestGateway, type TestGateway } from '../helpers/gateway.js';
import { closedPort } from '../limits/redis-test-support.js';
import { startWebhookReceiver, type WebhookReceiver } from './receivers.js';

const INSIDE = [
  '127.0.0.1',
  '127.255.0.9',
  '0.0.0.0',
  '10.1.2.3',
  '100.64.0.1',
  '100.100.100.200',
  '169.254.169.254',
  '172.16.0.1',
  '172.31.255.254',
  '192.168.1.1',
  '224.0.0.1',
  '255.255.255.255',
  '::',
  '::1',
  'fe80::1',
  'fc00::1',
  'fd00:ec2::254',
  'ff02::1',
  '::ffff:127.0.0.1',
  '::ffff:7f00:1',
  '::ffff:a9fe:a9fe',
  '64:ff9b::a9fe:a9fe',
  '2002:7f00:1::',
];
const OUTSIDE = ['8.8.8.8', '1.1.1.1', '172.32.0.1', '100.128.0.1', '2606:4700:4700::1111', '::ffff:8.8.8.8'];

const none: TargetPolicy = new TargetPolicy({ allowPrivate: false, allowedHosts: [] });

describe('webhook targets: inside addresses are refused', () => {
  it.each(INSIDE)('%s is an inside address', (ip) => {
    expect(none.isInside(ip)).toBe(true);
  });

  it.each(OUTSIDE)('%s is not', (ip) => {
    expect(none.isInside(ip)).toBe(false);
  });

  it('refuses a name that resolves only inside, and dials an allowed address when the name has one', async () => {
    const inside = new TargetPolicy({ allowPrivate: false, allowedHosts: [] }, async () => [{ address: '127.0.0.1', family: 4 }]);
    await expect(inside.pick('rebind.example.test')).rejects.toThrow(/inside/);
    const mixed = new TargetPolicy({ allowPrivate: false, allowedHosts: [] }, async () => [
      { address: '10.0.0.7', family: 4 },
      { address: '93.184.215.14', family: 4 },
    ]);
    expect(await mixed.pick('mixed.example.test')).toBe('93.184.215.14');
  });

  it('lets the operator allow host names, addresses and CIDR ranges', async () => {
    const allowed = new TargetPolicy({ allowPrivate: false, allowedHosts: ['hooks.internal', '10.20.0.0/16', '::1'] }, async (h) => [{ address: h === 'hooks.internal' ? '192.168.9.9' : '10.30.0.1', family: 4 }]);
    expect(await allowed.pick('hooks.internal')).toBe('192.168.9.9');
    expect(await allowed.pick('10.20.5.5')).toBe('10.20.5.5');
    expect(await allowed.pick('[::1]')).toBe('::1');
    await expect(allowed.pick('other.internal')).rejects.toThrow(/inside/);
    await expect(allowed.pick('10.21.0.1')).rejects.toThrow(/inside/);
  });

  it('refuses loopback and metadata names before any lookup, in any case and with trailing dots, unless allow-listed', async () => {
    const lookups: string[] = [];
    // A resolver that would answer a public address: the name alone must refuse.
    const policy = (allowedHosts: string[], allowPrivate = false) =>
      new TargetPolicy({ allowPrivate, allowedHosts }, async (h) => {
        lookups.push(h);
        return [{ address: '93.184.215.14', family: 4 }];
      });
    const strict = policy([]);
    for (const name of ['localhost.', 'LOCALHOST', 'foo.localhost', 'Foo.LocalHost..', 'localhost.localdomain.', 'ip6-localhost', 'metadata.google.internal.', 'instance-data']) {
      expect(strict.refusalOnSave(name), name).toBe('name');
      await expect(strict.pick(name), name).rejects.toThrow(/loopback or metadata name/);
    }
    expect(lookups).toEqual([]);
    expect(strict.refusalOnSave('localhost.example.com')).toBeUndefined();
    expect(strict.refusalOnSave('notlocalhost')).toBeUndefined();
    expect(await strict.pick('localhost.example.com')).toBe('93.184.215.14');

    const allowed = policy(['LocalHost.']);
    expect(allowed.refusalOnSave('localhost')).toBeUndefined();
    expect(allowed.refusalOnSave('localhost.')).toBeUndefined();
    expect(allowed.refusalOnSave('foo.localhost')).toBe('name');
    expect(await allowed.pick('localhost.')).toBe('93.184.215.14');
    expect(policy([], true).refusalOnSave('foo.localhost')).toBeUndefined();
  });
});

describe('webhook targets through the management API', () => {
  let gw: TestGateway;
  let closedGw: TestGateway;
  let hooks: WebhookReceiver;
  beforeAll(async () => {
    hooks = await startWebhookReceiver();
    gw = await startTestGateway();
    closedGw = await startTestGateway({ raw: { alerts: { allowed_hosts: ['127.0.0.1'] } } });
  });
  afterAll(async () => {
    await gw?.close();
    await closedGw?.close();
    await hooks?.close();
  });

  const put = (g: TestGateway, mk: string, body: unknown) =>
    fetch(`${g.url}/api/alerts`, { method: 'PUT', headers: { authorization: `Bearer ${mk}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });

  it.each([
    'http://127.0.0.1:9/hook',
    'http://localhost:9/hook',
    'http://2130706433/hook',
    'http://0177.0.0.1/hook',
    'http://0x7f.0.0.1/hook',
    'http://0x7f000001/hook',
    'http://127.1/hook',
    'http://[::1]:9/hook',
    'http://[::ffff:127.0.0.1]/hook',
    'http://[::ffff:a9fe:a9fe]/latest/meta-data',
    'http://169.254.169.254/latest/meta-data',
    'http://0251.0376.0251.0376/latest/meta-data',
    'http://10.0.0.1/hook',
    'http://[fd00:ec2::254]/hook',
  ])('refuses to save webhook_url %s', async (url) => {
    const { mk } = await gw.createOrg(1);
    const res = await put(gw, mk, { webhook_url: url });
    expect(res.status).toBe(400);
    expect(((await res.json()) as { error: { code: string; param: string } }).error).toMatchObject({ code: 'invalid_value', param: 'webhook_url' });
    expect(hooks.deliveries).toHaveLength(0);
  });

  it.each([
    'http://localhost.:9/hook',
    'http://LOCALHOST./hook',
    'http://foo.localhost/hook',
    'http://Foo.LocalHost./hook',
    'http://localhost.localdomain/hook',
    'http://ip6-localhost/hook',
    'http://metadata.google.internal./computeMetadata/v1/',
    'http://instance-data/latest/meta-data',
  ])('refuses to save webhook_url %s, a loopback or metadata name, saying so and saving nothing', async (url) => {
    const { mk } = await gw.createOrg(1);
    const res = await put(gw, mk, { webhook_url: url });
    expect(res.status).toBe(400);
    const { error } = (await res.json()) as { error: { code: string; param: string; message: string } };
    expect(error).toMatchObject({ code: 'invalid_value', param: 'webhook_url' });
    expect(error.message).toContain(`"${new URL(url).hostname}"`);
    expect(error.message).toMatch(/loopback or metadata name/);
    expect(error.message).toContain('alerts.allowed_hosts');
    const saved = await fetch(`${gw.url}/api/alerts`, { headers: { authorization: `Bearer ${mk}` } });
    expect(((await saved.json()) as { webhook_url: string | null }).webhook_url).toBeNull();
  });

  it('reports a failed test delivery without the connection error', async () => {
    const { mk } = await closedGw.createOrg(1);
    expect((await put(closedGw, mk, { webhook_url: `http://127.0.0.1:${await closedPort()}/hook` })).status).toBe(200);
    const res = await fetch(`${closedGw.url}/api/alerts/test`, { method: 'POST', headers: { authorization: `Bearer ${mk}` } });
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ delivered: false, channel: 'webhook', attempts: 1 });
  });

  it('reports a receiver failure as failed with its HTTP status only', async () => {
    const { mk } = await closedGw.createOrg(1);
    hooks.respond('/fails', 503);
    expect((await put(closedGw, mk, { webhook_url: `${hooks.url}/fails` })).status).toBe(200);
    const res = await fetch(`${closedGw.url}/api/alerts/test`, { method: 'POST', headers: { authorization: `Bearer ${mk}` } });
    expect(await res.json()).toEqual({ delivered: false, channel: 'webhook', status: 503, attempts: 1 });
  });
});

describe('webhook targets are checked on the address dialled (DNS rebinding)', () => {
  let hooks: WebhookReceiver;
  let gw: TestGateway;
  const services: AlertService[] = [];
  beforeAll(async () => {
    hooks = await startWebhookReceiver();
    gw = await startTestGateway();
  });
  afterAll(async () => {
    for (const s of services) await s.close();
    await gw?.close();
    await hooks?.close();
  });

  const service = (alerts: Partial<Config['alerts']>) => {
    const s = new AlertService({
      store: gw.running.gateway.store,
      log: createLogger({ level: 'silent' }),
      config: { allow_private_targets: false, allowed_hosts: [], smtp_url: null, from: null, retry_delays_ms: [], ...alerts },
      // A public-looking name whose DNS answer is the receiver's loopback address.
      resolve: async () => [{ address: '127.0.0.1', family: 4 }],
    });
    services.push(s);
    return s;
  };

  it('refuses a name that resolves to loopback when it is dialled, and sends nothing', async () => {
    const { orgId } = await gw.createOrg(1);
    const s = service({});
    const port = new URL(hooks.url).port;
    await s.putSettings(orgId, { webhook_url: `http://rebind.example.test:${port}/rebind` });
    expect(await s.sendTest(orgId)).toEqual({ delivered: false, channel: 'webhook', attempts: 1 });
    expect(hooks.deliveries.filter((d) => d.path === '/rebind')).toHaveLength(0);
  });

  it('delivers to the same name once the operator allow-lists the address, connecting to the resolved address', async () => {
    const { orgId } = await gw.createOrg(1);
    const s = service({ allowed_hosts: ['127.0.0.0/8'] });
    const port = new URL(hooks.url).port;
    await s.putSettings(orgId, { webhook_url: `http://rebind.example.test:${port}/allowed` });
    expect(await s.sendTest(orgId)).toEqual({ delivered: true, channel: 'webhook', status: 200, attempts: 1 });
    const [d] = hooks.deliveries.filter((x) => x.path === '/allowed');
    expect(d.headers.host).toBe(`rebind.example.test:${port}`);
  });
});

describe('each org signs its webhooks with its own secret, over a timestamp', () => {
  let hooks: WebhookReceiver;
  let gw: TestGateway;
  beforeAll(async () => {
    hooks = await startWebhookReceiver();
    gw = await startTestGateway({ raw: { alerts: { allowed_hosts: ['127.0.0.1'] } } });
  });
  afterAll(async () => {
    await gw?.close();
    await hooks?.close();
  });

  const call = async (mk: string, method: string, path: string, body?: unknown) => {
    const res = await fetch(`${gw.url}${path}`, { method, headers: { authorization: `Bearer ${mk}`, 'content-type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body) });
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  };
  const lastAt = (path: string) => hooks.deliveries.filter((d) => d.path === path).at(-1)!;

  it('shows a generated secret once, never at GET, and signs t=<unix>,v1=<hmac of "t.body"> with it', async () => {
    const a = await gw.createOrg(1);
    const b = await gw.createOrg(1);
    const putA = await call(a.mk, 'PUT', '/api/alerts', { webhook_url: `${hooks.url}/org-a` });
    const putB = await call(b.mk, 'PUT', '/api/alerts', { webhook_url: `${hooks.url}/org-b` });
    const secretA = putA.body.webhook_secret as string;
    const secretB = putB.body.webhook_secret as string;
    expect(secretA).toMatch(/^whsec_[A-Za-z0-9_-]{43}$/);
    expect(secretB).not.toBe(secretA);
    const again = await call(a.mk, 'PUT', '/api/alerts', { events: ['balance.low'] });
    expect(again.body.webhook_secret).toBeUndefined();
    const got = await call(a.mk, 'GET', '/api/alerts');
    expect(got.body).toMatchObject({ webhook_secret_set: true });
    expect(JSON.stringify(got.body)).not.toContain(secretA);

    expect((await call(a.mk, 'POST', '/api/alerts/test')).body).toMatchObject({ delivered: true });
    const d = lastAt('/org-a');
    const header = String(d.headers['x-tollgate-signature']);
    expect(header).toMatch(/^t=\d+,v1=[0-9a-f]{64}$/);
    expect(verifyDelivery(secretA, d.raw, header)).toBe(true);
    expect(verifyDelivery(secretB, d.raw, header)).toBe(false);
    expect(verifyDelivery('', d.raw, header)).toBe(false);
  });

  it('rotates the secret through the API: the new one signs, the old one no longer does', async () => {
    const { mk } = await gw.createOrg(1);
    const first = (await call(mk, 'PUT', '/api/alerts', { webhook_url: `${hooks.url}/rotating` })).body.webhook_secret as string;
    const rotated = await call(mk, 'POST', '/api/alerts/secret/rotate');
    expect(rotated.status).toBe(201);
    const second = rotated.body.webhook_secret as string;
    expect(second).toMatch(/^whsec_/);
    expect(second).not.toBe(first);
    await call(mk, 'POST', '/api/alerts/test');
    const d = lastAt('/rotating');
    const header = String(d.headers['x-tollgate-signature']);
    expect(verifyDelivery(second, d.raw, header)).toBe(true);
    expect(verifyDelivery(first, d.raw, header)).toBe(false);
  });

  it('makes a captured delivery useless later: an old timestamp fails, and the timestamp cannot be changed', () => {
    const body = '{"type":"test"}';
    const now = Date.now();
    const captured = signDelivery('whsec_x', body, now - 10 * 60_000);
    expect(verifyDelivery('whsec_x', body, captured, now)).toBe(false);
    const freshT = `t=${Math.floor(now / 1000)},${captured.split(',')[1]}`;
    expect(verifyDelivery('whsec_x', body, freshT, now)).toBe(false);
    expect(verifyDelivery('whsec_x', body, signDelivery('whsec_x', body, now), now)).toBe(true);
  });

  it('never signs with an empty key', () => {
    expect(() => signDelivery('', '{}')).toThrow();
  });
});
