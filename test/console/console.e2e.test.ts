// SPEC §11 end to end: a real Tollgate (built CLI, temp SQLite, mock provider) driven through
// the web console in Debian's Chromium, with the official openai SDK as the application.
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { type IncomingHttpHeaders, type Server, createServer as createHttpServer } from 'node:http';
import { type AddressInfo, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import OpenAI from 'openai';
import { type Browser, type BrowserContext, type Locator, type Page, chromium } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { serviceMissing } from '../helpers/services.js';
import { formatUsd } from '../../console/src/format.js';

const ROOT = resolve(import.meta.dirname, '../..');
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const CLI = join(ROOT, 'bin/tollgate.js');
const BUILT_SERVER = join(ROOT, 'dist/cli/index.js');
const BUILT_CONSOLE = join(ROOT, 'console/dist/index.html');
const SHOTS = join(ROOT, 'docs/screenshots');
const WIDTHS = [1280, 390];

const missing = [
  existsSync(CHROMIUM) ? null : `Chromium at ${CHROMIUM} (apt-get install chromium, or set CHROMIUM_PATH)`,
  existsSync(BUILT_SERVER) ? null : 'the built server dist/cli/index.js (npm run build)',
  existsSync(BUILT_CONSOLE) ? null : 'the built console console/dist (npm run build)',
].filter((m): m is string => m !== null);
if (missing.length > 0) serviceMissing('the console end-to-end setup', `missing ${missing.join('; ')}`, 'the console end-to-end tests');

const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'];

async function freePort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((ok) => srv.listen(0, '127.0.0.1', ok));
  const { port } = srv.address() as AddressInfo;
  await new Promise<void>((ok) => srv.close(() => ok()));
  return port;
}

function configYaml(port: number, dir: string): string {
  return [
    'server:',
    '  host: 127.0.0.1',
    `  port: ${port}`,
    // Interpolated by Tollgate from the environment, as a real deployment would do it.
    `  admin_token: "$\{TOLLGATE_ADMIN_TOKEN}"`,
    '  log_level: warn',
    // The console's tests are not about load shedding: a loaded machine must not turn into 503s.
    '  max_event_loop_lag_ms: 600000',
    'storage:',
    `  url: "sqlite://${dir}/t.db"`,
    'providers:',
    '  - { id: mock, type: mock }',
    'models:',
    // Prices high enough that three tiny requests cost well over a one-micro-dollar budget.
    '  - id: mock-small',
    '    context_window: 32000',
    '    max_output_tokens: 1024',
    '    pricing: { input_per_mtok: 100, output_per_mtok: 200 }',
    '    channels: [{ provider: mock, upstream_model: mock-small }]',
    '  - id: mock-large',
    '    context_window: 128000',
    '    max_output_tokens: 2048',
    '    pricing: { input_per_mtok: 300, output_per_mtok: 600 }',
    '    channels: [{ provider: mock, upstream_model: mock-large }]',
    // The test's webhook receiver listens on 127.0.0.1, which webhooks may reach only when allowed.
    'alerts:',
    '  allowed_hosts: ["127.0.0.1"]',
    '',
  ].join('\n');
}

/** Waits for `GET /healthz` 200, failing early with the server's output if it exits. */
async function waitHealthy(base: string, child: ChildProcess, output: () => string): Promise<void> {
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`tollgate exited with ${child.exitCode}:\n${output()}`);
    try {
      const res = await fetch(`${base}/healthz`);
      if (res.status === 200) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 150));
  }
  throw new Error(`tollgate did not become healthy in 30 s:\n${output()}`);
}

async function text(locator: Locator): Promise<string> {
  return ((await locator.textContent()) ?? '').trim();
}

async function login(page: Page, base: string, credential: string): Promise<void> {
  await page.goto(`${base}/console/`);
  await page.getByTestId('login-credential').fill(credential);
  await page.getByTestId('login-submit').click();
}

/** On narrow screens the nav sits behind the Menu button. */
async function openNav(page: Page): Promise<void> {
  const toggle = page.getByTestId('nav-toggle');
  if ((await toggle.isVisible()) && (await toggle.getAttribute('aria-expanded')) !== 'true') await toggle.click();
}

async function logout(page: Page): Promise<void> {
  await openNav(page);
  await page.getByTestId('logout').click();
  await page.getByTestId('login-form').waitFor();
}

async function settled(page: Page): Promise<void> {
  await expect.poll(() => page.getByTestId('state-loading').count(), { timeout: 10_000 }).toBe(0);
  // Charts measure their container after the first paint.
  await page.waitForTimeout(200);
}

interface Hook {
  server: Server;
  url: string;
  received: { headers: IncomingHttpHeaders; body: string }[];
}

async function startWebhookReceiver(): Promise<Hook> {
  const received: Hook['received'] = [];
  const server = createHttpServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => {
      body += c.toString();
    });
    req.on('end', () => {
      received.push({ headers: req.headers, body });
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`, received };
}

describe.skipIf(missing.length > 0)('SPEC §11 web console, end to end', () => {
  const adminToken = `admin-${randomBytes(12).toString('hex')}`;
  let dir: string;
  let child: ChildProcess;
  let base: string;
  let logs = '';
  let browser: Browser;
  let context: BrowserContext;
  let page: Page;
  let hook: Hook;
  let managementKey = '';
  let inferenceKey = '';
  let sdk: OpenAI;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'tollgate-console-'));
    const port = await freePort();
    base = `http://127.0.0.1:${port}`;
    const config = join(dir, 'tollgate.yaml');
    writeFileSync(config, configYaml(port, dir));
    child = spawn(process.execPath, [CLI, 'serve', '--config', config, '--port', String(port)], {
      cwd: ROOT,
      env: { ...process.env, TOLLGATE_ADMIN_TOKEN: adminToken },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child.stdout?.on('data', (c: Buffer) => {
      logs += c.toString();
    });
    child.stderr?.on('data', (c: Buffer) => {
      logs += c.toString();
    });
    hook = await startWebhookReceiver();
    await waitHealthy(base, child, () => logs);
    browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
    context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    page = await context.newPage();
    mkdirSync(SHOTS, { recursive: true });
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
    hook?.server.close();
    if (child && child.exitCode === null) {
      const exited = new Promise((ok) => child.once('exit', ok));
      child.kill('SIGTERM');
      await Promise.race([exited, new Promise((ok) => setTimeout(ok, 10_000))]);
      if (child.exitCode === null) child.kill('SIGKILL');
    }
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('shows the SPEC error message when the credential is wrong', async () => {
    const wrong = `mk-tg-${'x'.repeat(38)}`;
    const res = await fetch(`${base}/api/keys`, { headers: { Authorization: `Bearer ${wrong}` } });
    const envelope = (await res.json()) as { error: { message: string } };
    expect(res.status).toBe(401);
    await login(page, base, wrong);
    const error = page.getByTestId('form-error');
    await error.waitFor();
    expect(await text(error)).toBe(envelope.error.message);
    // Nothing was kept: a reload still shows the login form.
    await page.reload();
    await page.getByTestId('login-form').waitFor();
  });

  it('lets the operator create an org with credit and reveals its management key once', async () => {
    await login(page, base, adminToken);
    await page.getByTestId('page-orgs').waitFor();
    expect(await text(page.getByTestId('view-badge'))).toBe('Operator');
    await page.getByTestId('org-create').click();
    await page.getByTestId('org-submit').click();
    // Validation before sending: the name is required.
    expect(await text(page.getByTestId('org-name-error'))).toContain('Name');
    await page.getByTestId('org-name').fill('acme-e2e');
    await page.getByTestId('org-credits').fill('10');
    await page.getByTestId('org-submit').click();
    const revealed = page.getByTestId('revealed-key');
    await revealed.waitFor();
    managementKey = await revealed.inputValue();
    expect(managementKey).toMatch(/^mk-tg-/);
    expect(await text(page.getByTestId('reveal-warning'))).toMatch(/will not be shown again/);
    await page.getByTestId('reveal-done').click();
    const row = page.getByTestId('org-row').filter({ hasText: 'acme-e2e' });
    await expect.poll(() => text(row.getByTestId('org-balance'))).toBe('$10.00');
  });

  it("lets the operator mint a further management key for an org, shown once, that works on /api", async () => {
    const row = page.getByTestId('org-row').filter({ hasText: 'acme-e2e' });
    await row.getByTestId('org-mint-mk').click();
    const revealed = page.getByTestId('revealed-key');
    await revealed.waitFor();
    const minted = await revealed.inputValue();
    expect(minted).toMatch(/^mk-tg-/);
    expect(minted).not.toBe(managementKey);
    await page.getByTestId('reveal-done').click();
    const balance = await fetch(`${base}/api/balance`, { headers: { Authorization: `Bearer ${minted}` } });
    expect(balance.status).toBe(200);
  });

  it('grants credit once even when the same form is submitted twice', async () => {
    const row = page.getByTestId('org-row').filter({ hasText: 'acme-e2e' });
    const orgId = await row.getAttribute('data-org-id');
    await row.getByTestId('org-credit').click();
    const idem = await text(page.getByTestId('credit-idempotency'));
    await page.getByTestId('credit-amount').fill('5');
    await page.getByTestId('credit-note').fill('e2e top-up');
    await page.getByTestId('credit-submit').click();
    await page.getByTestId('orgs-notice').waitFor();
    await expect.poll(() => text(row.getByTestId('org-balance'))).toBe('$15.00');
    // A retry of the same form (same idempotency key) does not add credit again.
    const again = await fetch(`${base}/admin/orgs/${orgId}/credits`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${adminToken}`, 'Content-Type': 'application/json' },
      body: JSON.stringify({ amount_usd: 5, note: 'e2e top-up', idempotency_key: idem }),
    });
    expect(again.ok).toBe(true);
    expect(((await again.json()) as { balance_usd: number }).balance_usd).toBe(15);
  });

  it('shows each model with its channels and breaker state to the operator', async () => {
    await openNav(page);
    await page.getByTestId('nav-admin-models').click();
    await page.getByTestId('page-admin-models').waitFor();
    await expect.poll(() => page.getByTestId('admin-model').count()).toBe(2);
    const small = page.locator('[data-testid=admin-model][data-model=mock-small]');
    expect(await text(small.getByTestId('channel-state'))).toBe('Closed');
  });

  it('logs the operator out and the org admin in with the management key', async () => {
    await logout(page);
    await login(page, base, managementKey);
    await page.getByTestId('page-overview').waitFor();
    expect(await text(page.getByTestId('view-badge'))).toBe('Organisation');
    await expect.poll(() => text(page.getByTestId('stat-balance-value'))).toBe('$15.00');
  });

  it('creates an inference key with a one-time reveal that the openai SDK can use', async () => {
    await page.getByTestId('nav-keys').click();
    await page.getByTestId('page-keys').waitFor();
    await page.getByTestId('key-create').click();
    await page.getByTestId('key-name').fill('e2e-app');
    await page.getByTestId('key-budget').fill('-1');
    await page.getByTestId('key-submit').click();
    expect(await text(page.getByTestId('key-budget-error'))).toContain('negative');
    await page.getByTestId('key-budget').fill('');
    await page.getByTestId('key-submit').click();
    const revealed = page.getByTestId('revealed-key');
    await revealed.waitFor();
    inferenceKey = await revealed.inputValue();
    expect(inferenceKey).toMatch(/^sk-tg-/);
    await page.getByTestId('reveal-done').click();
    await page.getByTestId('key-row').filter({ hasText: 'e2e-app' }).waitFor();

    // The org keeps request logs from here on: the usage detail shows the bodies.
    const on = await fetch(`${base}/api/request-logs`, { method: 'PUT', headers: { Authorization: `Bearer ${managementKey}`, 'Content-Type': 'application/json' }, body: JSON.stringify({ enabled: true }) });
    expect(on.status).toBe(200);
    sdk = new OpenAI({ apiKey: inferenceKey, baseURL: `${base}/v1`, maxRetries: 0 });
    for (let i = 0; i < 3; i++) {
      const out = await sdk.chat.completions.create({ model: 'mock-small', messages: [{ role: 'user', content: `hello number ${i}` }], max_tokens: 16 });
      expect(out.choices[0].message).toBeTruthy();
    }
  }, 60_000);

  it('lists the three requests in the usage log with a per-request detail panel', async () => {
    await page.getByTestId('nav-usage').click();
    await page.getByTestId('page-usage').waitFor();
    // Usage is written behind the request path; refresh until it lands.
    await expect
      .poll(
        async () => {
          await page.getByTestId('usage-refresh').click();
          await page.waitForTimeout(300);
          return page.getByTestId('usage-row').count();
        },
        { timeout: 15_000 },
      )
      .toBe(3);
    const opener = page.getByTestId('usage-detail-open').first();
    await opener.click();
    const detail = page.getByTestId('usage-detail');
    await detail.waitFor();
    expect(await text(detail.getByTestId('detail-model'))).toBe('mock-small');
    expect(await text(detail.getByTestId('detail-cost'))).toMatch(/^\$\d/);
    expect(await text(detail.getByTestId('detail-status'))).toBe('200');
    // The kept request body: the newest request's message, with the key used nowhere in it.
    expect(JSON.parse(await text(detail.getByTestId('request-log-request'))).messages[0].content).toBe('hello number 2');
    expect(JSON.parse(await text(detail.getByTestId('request-log-response'))).object).toBe('chat.completion');
    // Dialogs keep focus inside and close on Escape, handing focus back.
    for (let i = 0; i < 4; i++) await page.keyboard.press('Tab');
    expect(await page.evaluate('document.activeElement?.closest("dialog") !== null')).toBe(true);
    await page.keyboard.press('Escape');
    await detail.waitFor({ state: 'detached' });

    await page.getByTestId('filter-model').fill('mock-large');
    await page.getByTestId('filter-apply').click();
    await page.getByTestId('state-empty').waitFor();
    await page.getByTestId('filter-reset').click();
    await expect.poll(() => page.getByTestId('usage-row').count()).toBe(3);

    // The route filter: the three are chat requests; none came in on the images route.
    await page.getByTestId('filter-route').selectOption('images');
    await page.getByTestId('filter-apply').click();
    await page.getByTestId('state-empty').waitFor();
    await page.getByTestId('filter-route').selectOption('chat');
    await page.getByTestId('filter-apply').click();
    await expect.poll(() => page.getByTestId('usage-row').count()).toBe(3);
    await page.getByTestId('filter-reset').click();
  });

  it("lets an org admin create a further management key, shown once, that manages the org's keys", async () => {
    await page.getByTestId('nav-keys').click();
    await page.getByTestId('page-keys').waitFor();
    await page.getByTestId('mk-create').click();
    const revealed = page.getByTestId('revealed-key');
    await revealed.waitFor();
    const another = await revealed.inputValue();
    expect(another).toMatch(/^mk-tg-/);
    await page.getByTestId('reveal-done').click();
    const keys = await fetch(`${base}/api/keys`, { headers: { Authorization: `Bearer ${another}` } });
    expect(keys.status).toBe(200);
    const listed = ((await keys.json()) as { data: Array<{ type: string }> }).data;
    expect(listed.filter((k) => k.type === 'management').length).toBeGreaterThanOrEqual(2);
  });

  it('charts the requests on the overview', async () => {
    await page.getByTestId('nav-overview').click();
    await page.getByTestId('page-overview').waitFor();
    await settled(page);
    expect(await text(page.getByTestId('stat-requests-value'))).toBe('3');
    const values = await page.getByTestId('chart-requests-bar').evaluateAll((bars) => bars.map((b) => Number(b.getAttribute('data-value'))));
    expect(values.reduce((a, b) => a + b, 0)).toBe(3);
    expect(await text(page.getByTestId('top-model-row'))).toContain('mock-small');
  });

  it('refuses the SDK with 402 budget_exceeded once a tiny budget is set', async () => {
    await page.getByTestId('nav-keys').click();
    const row = page.getByTestId('key-row').filter({ hasText: 'e2e-app' });
    await row.getByTestId('key-edit').click();
    await page.getByTestId('key-budget').fill('0.000001');
    await page.getByTestId('key-submit').click();
    await expect.poll(() => text(row.getByTestId('key-budget-cell'))).toContain('$0.000001');
    const err = await sdk.chat.completions.create({ model: 'mock-small', messages: [{ role: 'user', content: 'one more' }] }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OpenAI.APIError);
    expect((err as InstanceType<typeof OpenAI.APIError>).status).toBe(402);
    expect((err as InstanceType<typeof OpenAI.APIError>).code).toBe('budget_exceeded');
  });

  it('saves a fallback rule with the rules editor', async () => {
    const row = page.getByTestId('key-row').filter({ hasText: 'e2e-app' });
    await row.getByTestId('key-edit').click();
    await page.getByTestId('fallback-add-rule').click();
    await page.getByTestId('fallback-model-0').fill('mock-small');
    await page.getByTestId('fallback-targets-0-input').fill('mock-large');
    await page.getByTestId('fallback-targets-0-add').click();
    await page.getByTestId('key-submit').click();
    await page.getByTestId('key-form').waitFor({ state: 'detached' });
    // Read back from the server, not from local state.
    await page.reload();
    await expect.poll(() => text(row.getByTestId('key-fallbacks-cell'))).toContain('mock-small → mock-large');
  });

  it('disables the key and the SDK gets 403 key_disabled', async () => {
    const row = page.getByTestId('key-row').filter({ hasText: 'e2e-app' });
    await row.getByTestId('key-toggle').click();
    await expect.poll(() => text(row.getByTestId('key-status'))).toBe('Disabled');
    const err = await sdk.chat.completions.create({ model: 'mock-small', messages: [{ role: 'user', content: 'still there?' }] }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OpenAI.APIError);
    expect((err as InstanceType<typeof OpenAI.APIError>).status).toBe(403);
    expect((err as InstanceType<typeof OpenAI.APIError>).code).toBe('key_disabled');
  });

  it('rotates a key with a one-time reveal, then revokes it after confirmation', async () => {
    await page.getByTestId('key-create').click();
    await page.getByTestId('key-name').fill('e2e-rotate');
    await page.getByTestId('key-submit').click();
    const oldKey = await page.getByTestId('revealed-key').inputValue();
    await page.getByTestId('reveal-done').click();
    const live = page.locator('[data-testid=key-row][data-status=active]').filter({ hasText: 'e2e-rotate' });
    await live.getByTestId('key-rotate').click();
    await page.getByTestId('rotate-overlap').fill('0');
    await page.getByTestId('rotate-submit').click();
    const revealed = page.getByTestId('revealed-key');
    await revealed.waitFor();
    const newKey = await revealed.inputValue();
    expect(newKey).toMatch(/^sk-tg-/);
    expect(newKey).not.toBe(oldKey);
    await page.getByTestId('reveal-done').click();

    const call = (key: string) =>
      new OpenAI({ apiKey: key, baseURL: `${base}/v1`, maxRetries: 0 }).chat.completions
        .create({ model: 'mock-small', messages: [{ role: 'user', content: 'rotated' }], max_tokens: 8 })
        .then(() => 200)
        .catch((e: unknown) => (e instanceof OpenAI.APIError ? e.status : -1));
    expect(await call(newKey)).toBe(200);
    expect(await call(oldKey)).toBe(401);

    await expect.poll(() => live.count()).toBe(1);
    await live.getByTestId('key-revoke').click();
    await page.getByTestId('confirm-dialog').waitFor();
    await page.getByTestId('confirm-submit').click();
    await expect.poll(() => live.count()).toBe(0);
    expect(await call(newKey)).toBe(401);
    await page.getByTestId('keys-show-inactive').click();
    await expect.poll(() => page.locator('[data-testid=key-row][data-status=revoked]').filter({ hasText: 'e2e-rotate' }).count()).toBe(1);
  }, 60_000);

  it('saves alert settings and reports a test delivery', async () => {
    await page.getByTestId('nav-alerts').click();
    await page.getByTestId('alerts-form').waitFor();
    await page.getByTestId('alerts-webhook').fill('not a url');
    await page.getByTestId('alerts-save').click();
    expect(await text(page.getByTestId('alerts-webhook-error'))).toContain('URL');
    await page.getByTestId('alerts-webhook').fill(hook.url);
    await page.getByTestId('alerts-event-balance.low').check();
    await page.getByTestId('alerts-balance-low').fill('1');
    await page.getByTestId('alerts-save').click();
    await expect.poll(() => text(page.getByTestId('alerts-saved'))).toBe('Saved.');
    await page.getByTestId('alerts-test').click();
    const result = page.getByTestId('alerts-test-result').locator('[data-outcome]');
    await result.waitFor();
    expect(await result.getAttribute('data-outcome')).toBe('ok');
    expect(hook.received.length).toBeGreaterThan(0);
    expect(hook.received[0].headers['x-tollgate-signature']).toBeTruthy();
  });

  it('lists the org’s models with price and live availability', async () => {
    await page.getByTestId('nav-models').click();
    await page.getByTestId('page-models').waitFor();
    await expect.poll(() => page.getByTestId('model-row').count()).toBe(2);
    expect(await text(page.locator('[data-testid=model-row][data-model=mock-small]'))).toContain('Available');
  });

  it('shows the org its audit trail: every change it made, with before and after', async () => {
    const api = (await (await fetch(`${base}/api/audit?limit=100`, { headers: { Authorization: `Bearer ${managementKey}` } })).json()) as { data: Array<{ action: string; target: string | null }> };
    expect(api.data.length).toBeGreaterThan(0);
    await page.getByTestId('nav-audit').click();
    await page.getByTestId('page-audit').waitFor();
    await expect.poll(() => page.getByTestId('audit-row').count()).toBe(api.data.length);
    const rotation = api.data.find((e) => e.action === 'key.rotate');
    expect(rotation).toBeTruthy();
    // Filtered to the rotations, then one opened: its after holds the replacement key (by prefix, never the key).
    await page.getByTestId('audit-filter-action').selectOption('key.rotate');
    await page.getByTestId('audit-filter-apply').click();
    await expect.poll(() => page.getByTestId('audit-row').count()).toBe(api.data.filter((e) => e.action === 'key.rotate').length);
    await page.getByTestId('audit-detail-open').first().click();
    const after = await text(page.getByTestId('audit-detail-after'));
    expect(after).toContain('replacement');
    expect(after).toContain('prefix');
    expect(after).not.toContain(managementKey);
    await page.keyboard.press('Escape');
  });

  it('shows balance and ledger on the billing page', async () => {
    await page.getByTestId('nav-billing').click();
    await page.getByTestId('page-billing').waitFor();
    await expect.poll(() => page.locator('[data-testid=ledger-row][data-kind=grant]').count()).toBe(2);
    // One charge per served request: three from the first key, one from the rotated key.
    await expect.poll(() => page.locator('[data-testid=ledger-row][data-kind=charge]').count()).toBe(4);
    // Logging out forgets the credential.
    await logout(page);
    await page.reload();
    await page.getByTestId('login-form').waitFor();
  });

  it("shows the operator every org's traffic, revenue and usage, equal to what the orgs were charged", async () => {
    const adminGet = async (path: string) => (await (await fetch(`${base}${path}`, { headers: { Authorization: `Bearer ${adminToken}` } })).json()) as { data: Array<Record<string, unknown>>; totals?: Record<string, number> };
    const stats = await adminGet('/admin/stats?by=model');
    const usage = await adminGet('/admin/usage?limit=1000');
    const charged = usage.data.reduce((s, u) => s + (u.cost_usd as number), 0);
    expect(stats.totals?.requests).toBe(usage.data.length);
    await login(page, base, adminToken);
    await page.getByTestId('nav-traffic').click();
    await page.getByTestId('page-traffic').waitFor();
    await expect.poll(() => text(page.getByTestId('stat-traffic-requests-value'))).toBe(String(usage.data.length));
    expect(await text(page.getByTestId('stat-traffic-revenue-value'))).toBe(formatUsd(charged));
    // Per model: the rows add up to the usage records of that model.
    const models = new Set(usage.data.map((u) => u.model as string));
    await expect.poll(() => page.getByTestId('traffic-group-row').count()).toBe(models.size);
    for (const m of models) {
      const row = page.locator(`[data-testid=traffic-group-row][data-name="${m}"]`);
      expect(await text(row.getByTestId('group-requests'))).toBe(String(usage.data.filter((u) => u.model === m).length));
    }
    // The org that spent shows first among the top organisations, with its spend.
    const orgs = await adminGet('/admin/stats/orgs');
    expect(orgs.data.length).toBeGreaterThan(0);
    const first = page.getByTestId('top-org-row').first();
    expect(await first.getAttribute('data-org-id')).toBe(orgs.data[0]!.org_id);
    expect(await text(first.getByTestId('top-org-spend'))).toBe(formatUsd(orgs.data[0]!.revenue_usd as number));
    // Split by provider.
    await page.getByTestId('traffic-split').selectOption('provider');
    await page.locator('[data-testid=traffic-group-row][data-name=mock]').waitFor();
    // The usage log across orgs, filtered to one organisation.
    await page.getByTestId('nav-admin-usage').click();
    await page.getByTestId('page-admin-usage').waitFor();
    await expect.poll(() => page.getByTestId('usage-row').count()).toBe(Math.min(usage.data.length, 100));
    const orgId = orgs.data[0]!.org_id as string;
    await page.getByTestId('filter-org').selectOption(orgId);
    await page.getByTestId('filter-apply').click();
    const mine = usage.data.filter((u) => u.org_id === orgId);
    await expect.poll(() => page.getByTestId('usage-row').count()).toBe(Math.min(mine.length, 100));
    expect(await text(page.getByTestId('usage-owner').first())).toBe(orgs.data[0]!.name);
    // The operator's audit trail: every org's records, filtered to org creations.
    const created = await adminGet('/admin/audit?action=org.create&limit=1000');
    await page.getByTestId('nav-admin-audit').click();
    await page.getByTestId('page-admin-audit').waitFor();
    await page.getByTestId('audit-filter-action').selectOption('org.create');
    await page.getByTestId('audit-filter-apply').click();
    await expect.poll(() => page.getByTestId('audit-row').count()).toBe(Math.min(created.data.length, 100));
    expect(await text(page.getByTestId('audit-actor').first())).toBe('operator');
    await logout(page);
  });

  it('renders every page at 1280 px and 390 px (screenshots in docs/screenshots)', async () => {
    const orgPages = ['overview', 'keys', 'usage', 'billing', 'alerts', 'models', 'audit'];
    const hashes: Record<string, string> = { overview: 'overview', keys: 'keys', usage: 'usage', billing: 'billing', alerts: 'alerts', models: 'models', audit: 'audit', orgs: 'orgs', traffic: 'traffic', 'admin-usage': 'usage', 'admin-models': 'models', 'admin-audit': 'audit' };
    for (const width of WIDTHS) {
      for (const role of ['org', 'operator'] as const) {
        const ctx = await browser.newContext({ viewport: { width, height: 900 } });
        const p = await ctx.newPage();
        await p.goto(`${base}/console/`);
        await p.getByTestId('login-form').waitFor();
        if (role === 'org') await p.screenshot({ path: join(SHOTS, `login-${width}.png`), fullPage: true });
        await login(p, base, role === 'org' ? managementKey : adminToken);
        const pages = role === 'org' ? orgPages : ['orgs', 'traffic', 'admin-usage', 'admin-models', 'admin-audit'];
        await p.getByTestId(`page-${pages[0]}`).waitFor();
        for (const name of pages) {
          await p.goto(`${base}/console/#/${hashes[name]}`);
          await p.getByTestId(`page-${name}`).waitFor();
          await settled(p);
          // Nothing may overflow sideways at phone width.
          const overflow = await p.evaluate('document.documentElement.scrollWidth - document.documentElement.clientWidth');
          expect(overflow, `${name} at ${width}px overflows`).toBeLessThanOrEqual(0);
          await p.screenshot({ path: join(SHOTS, `${name}-${width}.png`), fullPage: true });
        }
        await ctx.close();
      }
    }
  }, 120_000);
});
