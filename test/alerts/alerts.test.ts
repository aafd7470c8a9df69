// SPEC §10 alerts: org settings at /api/alerts (validated), a signed test delivery, and the
// events model.unavailable / model.recovered (a model lost or regained its last healthy
// channel), balance.low and budget.threshold, each sent once per transition, not once per
// failing request; webhooks are HMAC-SHA256 signed and retried with backoff; email via SMTP.
// The receivers listen on 127.0.0.1, an inside address: the config allow-lists it.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AlertService, verifyDelivery } from '../../src/alerts/index.js';
import { createLogger } from '../../src/observability/logger.js';
import { startTestGateway, type TestGateway } from '../helpers/gateway.js';
import { closeSharedRedisSuite, connectTestClient, freshPrefix, isRedisReachable, TEST_REDIS_URL } from '../limits/redis-test-support.js';
import { ask, fail, model, ok, pastCooldown, provider, SERVER, type Scripted, send, startScripted, until } from '../resilience/support.js';
import { type Delivery, type SmtpSink, startSmtpSink, startWebhookReceiver, type WebhookReceiver } from './receivers.js';

/** Receivers on this machine are inside addresses: only the operator's allow-list lets webhooks reach them. */
const LOCAL_RECEIVERS = { allowed_hosts: ['127.0.0.1'] };
/** Every org's signing secret, as shown once when its webhook was first saved. */
const secrets = new Set<string>();
const THRESHOLD = 2;
const COOLDOWN_S = 0.3;
/** $0.20 per request: 1000 output tokens at $200 per million. */
const SPEND_PRICE = { input_per_mtok: 0, output_per_mtok: 200 };
const SPEND_USAGE = { prompt_tokens: 10, completion_tokens: 1000, total_tokens: 1010 };

let up: Scripted;
let hooks: WebhookReceiver;
let smtp: SmtpSink;
let gw: TestGateway;

beforeAll(async () => {
  up = await startScripted();
  hooks = await startWebhookReceiver();
  smtp = await startSmtpSink();
  up.setDefault('spend', ok('Spent.', SPEND_USAGE));
  gw = await startTestGateway({
    raw: {
      server: SERVER,
      providers: [provider('up', up.url)],
      models: [
        model('watched', [['up', 'watched']]),
        model('flappy', [['up', 'flappy']]),
        model('retry-watch', [['up', 'retry-watch']]),
        model('pair-watch', [
          ['up', 'pw-bad', 0],
          ['up', 'pw-good', 1],
        ]),
        model('spend', [['up', 'spend']], { pricing: SPEND_PRICE }),
      ],
      // One attempt per request: each failing request is one breaker failure.
      routing: { max_attempts: 1, retry_base_ms: 5 },
      circuit_breaker: { failure_threshold: THRESHOLD, min_requests: 1000, cooldown_s: COOLDOWN_S },
      limits: { key_rpm: null },
      alerts: { ...LOCAL_RECEIVERS, smtp_url: `smtp://127.0.0.1:${smtp.port}`, from: 'alerts@tollgate.test' },
    },
  });
});

afterAll(async () => {
  await gw?.close();
  await up?.close();
  await hooks?.close();
  await smtp?.close();
});

async function alertsCall(mk: string, method: 'GET' | 'PUT' | 'POST', path = '/api/alerts', body?: unknown) {
  const res = await fetch(`${gw.url}${path}`, {
    method,
    headers: { authorization: `Bearer ${mk}`, 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> & { error?: { code: string; param: string | null; message: string } } };
}

async function subscribe(mk: string, settings: Record<string, unknown>): Promise<void> {
  const r = await alertsCall(mk, 'PUT', '/api/alerts', settings);
  expect(r.status, JSON.stringify(r.body)).toBe(200);
  if (typeof r.body.webhook_secret === 'string') secrets.add(r.body.webhook_secret);
}

function verifySignature(d: Delivery): boolean {
  const header = String(d.headers['x-tollgate-signature'] ?? '');
  return [...secrets].some((secret) => verifyDelivery(secret, d.raw, header));
}

const onPath = (path: string, type?: string, subject?: (d: Delivery) => boolean) =>
  hooks.deliveries.filter((d) => d.path === path && (type === undefined || d.json.type === type) && (subject === undefined || subject(d)));

const forModel = (m: string) => (d: Delivery) => d.json.data.model === m;

/** Every delivery started so far has finished (retries included) and nothing new started meanwhile. */
async function quiet(...gateways: TestGateway[]): Promise<void> {
  const all = gateways.length > 0 ? gateways : [gw];
  const idle = () => all.every((g) => g.running.gateway.alerts.inFlight === 0);
  await until(idle, 'alert deliveries to finish');
  await new Promise((r) => setTimeout(r, 100));
  await until(idle, 'alert deliveries to finish');
}

describe('SPEC §10 alerts', () => {
  it('validates PUT /api/alerts and returns the saved settings at GET', async () => {
    const { mk } = await gw.createOrg(10);
    const badUrl = await alertsCall(mk, 'PUT', '/api/alerts', { webhook_url: 'not a url' });
    expect(badUrl.status).toBe(400);
    expect(badUrl.body.error).toMatchObject({ code: 'invalid_value', param: 'webhook_url' });
    const notHttp = await alertsCall(mk, 'PUT', '/api/alerts', { webhook_url: 'ftp://example.com/hook' });
    expect(notHttp.status).toBe(400);
    expect(notHttp.body.error?.code).toBe('invalid_value');
    const unknown = await alertsCall(mk, 'PUT', '/api/alerts', { webhook_url: `${hooks.url}/x`, sms: '+100000' });
    expect(unknown.status).toBe(400);
    expect(unknown.body.error).toMatchObject({ code: 'unknown_parameter', param: 'sms' });
    const badEvent = await alertsCall(mk, 'PUT', '/api/alerts', { events: ['model.exploded'] });
    expect(badEvent.status).toBe(400);
    expect(badEvent.body.error?.code).toBe('invalid_value');

    const settings = { webhook_url: `${hooks.url}/saved`, email: 'ops@example.com', events: ['model.unavailable', 'balance.low'], balance_low_usd: 2.5, budget_threshold_pct: 75 };
    const put = await alertsCall(mk, 'PUT', '/api/alerts', settings);
    expect(put.status).toBe(200);
    expect(put.body).toMatchObject(settings);
    const got = await alertsCall(mk, 'GET');
    expect(got.status).toBe(200);
    expect(got.body).toMatchObject(settings);
  });

  it('POST /api/alerts/test delivers a signed JSON POST and returns the delivery result', async () => {
    const { orgId, mk } = await gw.createOrg(10);
    await subscribe(mk, { webhook_url: `${hooks.url}/test-ok` });
    const r = await alertsCall(mk, 'POST', '/api/alerts/test');
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ delivered: true, channel: 'webhook', status: 200, attempts: 1 });
    const [d] = onPath('/test-ok');
    expect(d).toBeDefined();
    expect(d.headers['content-type']).toContain('application/json');
    expect(verifySignature(d)).toBe(true);
    expect(d.json).toMatchObject({ type: 'test', org_id: orgId });
    expect(typeof d.json.id).toBe('string');

    // A receiver that fails: the result says so (the test button does not retry).
    hooks.respond('/test-fail', 500);
    await subscribe(mk, { webhook_url: `${hooks.url}/test-fail` });
    const failed = await alertsCall(mk, 'POST', '/api/alerts/test');
    expect(failed.status).toBe(200);
    expect(failed.body).toMatchObject({ delivered: false, channel: 'webhook', status: 500 });
  });

  it('sends model.unavailable once when the last channel opens, despite many failing requests, and model.recovered once when it closes', async () => {
    const { orgId, mk } = await gw.createOrg(10);
    const key = (await gw.createKey(mk)).key;
    await subscribe(mk, { webhook_url: `${hooks.url}/model`, events: ['model.unavailable', 'model.recovered'] });
    up.setDefault('watched', fail(500, 'watched is down'));
    for (let i = 0; i < 12; i++) expect([502, 503]).toContain((await send(gw, key, ask('watched', 'failing'))).status);
    await hooks.waitFor(() => onPath('/model', 'model.unavailable', forModel('watched')).length >= 1, 'model.unavailable');
    await quiet();
    const down = onPath('/model', 'model.unavailable', forModel('watched'));
    expect(down).toHaveLength(1);
    expect(down[0].json.org_id).toBe(orgId);
    expect(verifySignature(down[0])).toBe(true);
    expect(onPath('/model', 'model.recovered', forModel('watched'))).toHaveLength(0);

    up.setDefault('watched', ok());
    await pastCooldown(COOLDOWN_S);
    for (let i = 0; i < 5; i++) expect((await send(gw, key, ask('watched', 'recovered'))).status).toBe(200);
    await hooks.waitFor(() => onPath('/model', 'model.recovered', forModel('watched')).length >= 1, 'model.recovered');
    await quiet();
    expect(onPath('/model', 'model.recovered', forModel('watched'))).toHaveLength(1);
    expect(onPath('/model', 'model.unavailable', forModel('watched'))).toHaveLength(1);
  });

  it('does not announce model.recovered for a half-open probe that fails (the model never regained a healthy channel)', async () => {
    const { mk } = await gw.createOrg(10);
    const key = (await gw.createKey(mk)).key;
    await subscribe(mk, { webhook_url: `${hooks.url}/flappy`, events: ['model.unavailable', 'model.recovered'] });
    up.setDefault('flappy', fail(500, 'flappy is down'));
    for (let i = 0; i < THRESHOLD; i++) expect((await send(gw, key, ask('flappy', 'open'))).status).toBe(502);
    await hooks.waitFor(() => onPath('/flappy', 'model.unavailable').length >= 1, 'model.unavailable for flappy');
    // Two cooldowns, two failing probes: the channel was never healthy again.
    for (let round = 0; round < 2; round++) {
      await pastCooldown(COOLDOWN_S);
      expect((await send(gw, key, ask('flappy', 'failing probe'))).status).toBe(502);
    }
    await quiet();
    expect(onPath('/flappy').map((d) => d.json.type)).toEqual(['model.unavailable']);

    // A probe that succeeds is a recovery: announced once.
    up.setDefault('flappy', ok());
    await pastCooldown(COOLDOWN_S);
    expect((await send(gw, key, ask('flappy', 'good probe'))).status).toBe(200);
    await hooks.waitFor(() => onPath('/flappy', 'model.recovered').length >= 1, 'model.recovered for flappy');
    await quiet();
    expect(onPath('/flappy').map((d) => d.json.type)).toEqual(['model.unavailable', 'model.recovered']);
  });

  it('sends no model.unavailable when a channel opens but the model still has a healthy one', async () => {
    const { mk } = await gw.createOrg(10);
    const key = (await gw.createKey(mk)).key;
    await subscribe(mk, { webhook_url: `${hooks.url}/pair`, events: ['model.unavailable', 'model.recovered'] });
    up.setDefault('pw-bad', fail(500, 'pw-bad is down'));
    for (let i = 0; i < THRESHOLD + 3; i++) await send(gw, key, ask('pair-watch', 'one channel dies'));
    expect(up.count('pw-good')).toBeGreaterThan(0);
    await quiet();
    expect(onPath('/pair', undefined, forModel('pair-watch'))).toHaveLength(0);
  });

  it('sends balance.low once when the balance crosses the threshold', async () => {
    const { orgId, mk } = await gw.createOrg(1);
    const key = (await gw.createKey(mk)).key;
    await subscribe(mk, { webhook_url: `${hooks.url}/balance`, events: ['balance.low'], balance_low_usd: 0.5 });
    // $1.00 → 0.80 → 0.60: above the threshold, nothing sent.
    for (let i = 0; i < 2; i++) expect((await send(gw, key, ask('spend', 'spend', { max_tokens: 1000 }))).status).toBe(200);
    await quiet();
    expect(onPath('/balance')).toHaveLength(0);
    // → 0.40: crossed.
    expect((await send(gw, key, ask('spend', 'spend', { max_tokens: 1000 }))).status).toBe(200);
    await hooks.waitFor(() => onPath('/balance', 'balance.low').length >= 1, 'balance.low');
    // → 0.20: still low, not announced again.
    expect((await send(gw, key, ask('spend', 'spend', { max_tokens: 1000 }))).status).toBe(200);
    await quiet();
    const sent = onPath('/balance');
    expect(sent.map((d) => d.json.type)).toEqual(['balance.low']);
    expect(sent[0].json.org_id).toBe(orgId);
    expect(sent[0].json.data).toMatchObject({ balance_usd: 0.4, threshold_usd: 0.5 });
    expect(verifySignature(sent[0])).toBe(true);
  });

  it('sends budget.threshold once when a key passes the set % of its budget', async () => {
    const { mk } = await gw.createOrg(10);
    const k = await gw.createKey(mk, { budget_usd: 1 });
    await subscribe(mk, { webhook_url: `${hooks.url}/budget`, events: ['budget.threshold'], budget_threshold_pct: 50 });
    // 20 %, 40 %: under.
    for (let i = 0; i < 2; i++) expect((await send(gw, k.key, ask('spend', 'budget', { max_tokens: 1000 }))).status).toBe(200);
    await quiet();
    expect(onPath('/budget')).toHaveLength(0);
    // 60 %: passed.
    expect((await send(gw, k.key, ask('spend', 'budget', { max_tokens: 1000 }))).status).toBe(200);
    await hooks.waitFor(() => onPath('/budget', 'budget.threshold').length >= 1, 'budget.threshold');
    // 80 %: still past, not announced again.
    expect((await send(gw, k.key, ask('spend', 'budget', { max_tokens: 1000 }))).status).toBe(200);
    await quiet();
    const sent = onPath('/budget');
    expect(sent.map((d) => d.json.type)).toEqual(['budget.threshold']);
    expect(sent[0].json.data).toMatchObject({ key_id: k.id, budget_usd: 1 });
    expect(sent[0].json.data.percent).toBeCloseTo(60, 0);
  });

  it('retries a failed webhook delivery with backoff (gateway default: first retry after 1 s)', async () => {
    const { mk } = await gw.createOrg(10);
    const key = (await gw.createKey(mk)).key;
    await subscribe(mk, { webhook_url: `${hooks.url}/retry`, events: ['model.unavailable'] });
    hooks.respond('/retry', 500);
    up.setDefault('retry-watch', fail(500, 'retry-watch is down'));
    for (let i = 0; i < THRESHOLD; i++) await send(gw, key, ask('retry-watch', 'open'));
    await hooks.waitFor(() => onPath('/retry', 'model.unavailable', forModel('retry-watch')).length >= 2, 'the retried delivery', 5000);
    const [first, second] = onPath('/retry', 'model.unavailable', forModel('retry-watch'));
    expect(first.answered).toBe(500);
    expect(second.answered).toBe(200);
    expect(second.at - first.at).toBeGreaterThanOrEqual(900);
    // The same event, signed again: receivers can de-duplicate on its id.
    expect(second.raw).toBe(first.raw);
    expect(verifySignature(second)).toBe(true);
    await quiet();
    expect(onPath('/retry', 'model.unavailable', forModel('retry-watch'))).toHaveLength(2);
  });

  it('AlertService retries with its configured delays until a delivery succeeds, then stops', async () => {
    // The gateway's delays ([1 s, 5 s, 30 s, 120 s]) have no config knob, so the schedule is
    // checked on the service itself, with short delays.
    const { orgId } = await gw.createOrg(10);
    const service = new AlertService({
      store: gw.running.gateway.store,
      log: createLogger({ level: 'silent' }),
      config: { ...LOCAL_RECEIVERS, allow_private_targets: false, smtp_url: null, from: null, retry_delays_ms: [10, 20] },
      retryDelaysMs: [10, 20],
    });
    const saved = await service.putSettings(orgId, { webhook_url: `${hooks.url}/direct`, events: ['model.unavailable'] });
    if (saved.webhook_secret) secrets.add(saved.webhook_secret);
    hooks.respond('/direct', 500, 503);
    service.transition(orgId, 'direct-model', 'model', true, { model: 'direct-model' });
    await hooks.waitFor(() => onPath('/direct').length >= 3, 'three delivery attempts');
    await until(() => service.inFlight === 0, 'the delivery to finish');
    const tries = onPath('/direct');
    expect(tries.map((d) => d.answered)).toEqual([500, 503, 200]);
    expect(tries[1].at - tries[0].at).toBeGreaterThanOrEqual(10);
    expect(tries[2].at - tries[1].at).toBeGreaterThanOrEqual(20);
    expect(new Set(tries.map((d) => d.raw)).size).toBe(1);
    expect(tries.every(verifySignature)).toBe(true);

    // Always failing: one try plus one per configured delay, then it gives up.
    hooks.respond('/direct-dead', 500, 500, 500, 500, 500);
    await service.putSettings(orgId, { webhook_url: `${hooks.url}/direct-dead` });
    service.transition(orgId, 'other-model', 'model', true, { model: 'other-model' });
    await hooks.waitFor(() => onPath('/direct-dead').length >= 3, 'three failing attempts');
    await until(() => service.inFlight === 0, 'the delivery to give up');
    expect(onPath('/direct-dead')).toHaveLength(3);
    await service.close();
  });

  it('sends email through SMTP (alerts.smtp_url) for the test event', async () => {
    const { orgId, mk } = await gw.createOrg(10);
    await subscribe(mk, { email: 'ops@example.com' });
    const before = smtp.mails.length;
    const r = await alertsCall(mk, 'POST', '/api/alerts/test');
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    expect(r.body).toMatchObject({ delivered: true, channel: 'email' });
    await smtp.waitForMail(before + 1);
    const mail = smtp.mails[before];
    expect(mail.from).toContain('alerts@tollgate.test');
    expect(mail.to.join(' ')).toContain('ops@example.com');
    expect(mail.data).toMatch(/^Subject: \[Tollgate\] test/m);
    const body = mail.data.replace(/=\r\n/g, '');
    expect(body).toContain(orgId);
  });
});

const redisUp = await isRedisReachable();
if (!redisUp) console.log(`Redis not reachable at ${TEST_REDIS_URL}: skipping the multi-instance alert tests (SPEC §10 with Redis)`);

describe.skipIf(!redisUp)('SPEC §10 alerts across instances sharing Redis', () => {
  let a: TestGateway;
  let b: TestGateway;
  let dir: string;
  let prefix: string;
  let redis: Redis;
  let early: { orgId: string; mk: string };

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'tollgate-alerts-multi-'));
    prefix = freshPrefix();
    redis = await connectTestClient();
    const raw = {
      server: SERVER,
      storage: { url: `sqlite://${join(dir, 'shared.db')}` },
      redis: { url: TEST_REDIS_URL, key_prefix: prefix },
      providers: [provider('up', up.url)],
      models: [model('multi-watch', [['up', 'multi-watch']]), model('spend', [['up', 'spend']], { pricing: SPEND_PRICE })],
      routing: { max_attempts: 1, retry_base_ms: 5 },
      circuit_breaker: { failure_threshold: THRESHOLD, min_requests: 1000, cooldown_s: 60 },
      limits: { key_rpm: null },
      alerts: LOCAL_RECEIVERS,
    };
    a = await startTestGateway({ raw });
    early = await a.createOrg(10);
    const res = await fetch(`${a.url}/api/alerts`, {
      method: 'PUT',
      headers: { authorization: `Bearer ${early.mk}`, 'content-type': 'application/json' },
      body: JSON.stringify({ webhook_url: `${hooks.url}/multi`, events: ['model.unavailable', 'model.recovered'] }),
    });
    expect(res.status).toBe(200);
    // B starts after the org and its settings exist, so it knows both.
    b = await startTestGateway({ raw });
  });

  afterAll(() => closeSharedRedisSuite({ gateways: [a, b], redis, prefix, dir }));

  it('announces model.unavailable once, not once per instance, when the breaker opens on one and is shared with the other', async () => {
    const key = (await a.createKey(early.mk)).key;
    up.setDefault('multi-watch', fail(500, 'multi-watch is down'));
    for (let i = 0; i < THRESHOLD; i++) expect((await send(a, key, ask('multi-watch', 'open on A'))).status).toBe(502);
    await hooks.waitFor(() => onPath('/multi', 'model.unavailable').length >= 1, 'model.unavailable from A');
    // B learns the open state over Redis.
    await until(async () => {
      const res = await b.admin('/admin/models');
      const body = (await res.json()) as { data: Array<{ id: string; channels: Array<{ state: string }> }> };
      return body.data.find((m) => m.id === 'multi-watch')?.channels[0].state === 'open';
    }, 'B to see the breaker open');
    await quiet(a, b);
    expect(onPath('/multi', 'model.unavailable')).toHaveLength(1);
  });

  it('delivers balance.low for spend served by another instance than the one the settings were saved on', async () => {
    const late = await a.createOrg(1);
    const k = await a.createKey(late.mk);
    const put = await fetch(`${a.url}/api/alerts`, {
      method: 'PUT',
      headers: { authorization: `Bearer ${late.mk}`, 'content-type': 'application/json' },
      body: JSON.stringify({ webhook_url: `${hooks.url}/multi-balance`, events: ['balance.low'], balance_low_usd: 0.5 }),
    });
    expect(put.status).toBe(200);
    // B serves the traffic: $1.00 → 0.80 → 0.60 → 0.40 (below 0.50).
    await until(async () => (await send(b, k.key, ask('spend', 'spend on B', { max_tokens: 1000 }))).status === 200, 'B to accept the new key', 3000, 50);
    for (let i = 0; i < 2; i++) expect((await send(b, k.key, ask('spend', 'spend on B', { max_tokens: 1000 }))).status).toBe(200);
    await hooks.waitFor(() => onPath('/multi-balance', 'balance.low').length >= 1, 'balance.low for spend on B', 3000);
    await quiet(a, b);
    expect(onPath('/multi-balance', 'balance.low')).toHaveLength(1);
  });

  it('announces balance.low once even when both instances serve the org after the crossing', async () => {
    const org = await a.createOrg(2);
    const k = await a.createKey(org.mk);
    const put = await fetch(`${a.url}/api/alerts`, {
      method: 'PUT',
      headers: { authorization: `Bearer ${org.mk}`, 'content-type': 'application/json' },
      body: JSON.stringify({ webhook_url: `${hooks.url}/multi-both`, events: ['balance.low'], balance_low_usd: 1.5 }),
    });
    expect(put.status).toBe(200);
    // A: $2.00 → 1.80 → 1.60 → 1.40: crossed, announced by A.
    for (let i = 0; i < 3; i++) expect((await send(a, k.key, ask('spend', 'spend on A', { max_tokens: 1000 }))).status).toBe(200);
    await hooks.waitFor(() => onPath('/multi-both', 'balance.low').length >= 1, 'balance.low from A');
    // B: 1.20 → 1.00 → 0.80: still low, the same transition, not a new one.
    await until(async () => (await send(b, k.key, ask('spend', 'spend on B', { max_tokens: 1000 }))).status === 200, 'B to accept the new key', 3000, 50);
    for (let i = 0; i < 2; i++) expect((await send(b, k.key, ask('spend', 'spend on B', { max_tokens: 1000 }))).status).toBe(200);
    await quiet(a, b);
    expect(onPath('/multi-both', 'balance.low')).toHaveLength(1);
  });
});
