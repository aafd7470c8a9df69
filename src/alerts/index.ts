// Owns org alert settings and delivery (SPEC §10): webhooks signed per org (timestamped HMAC-SHA256) and retried with backoff, email through SMTP, once per transition.
// Must not block or fail a request, nor reach inside the gateway's network: delivery runs in the background through a dispatcher that refuses inside addresses.
import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import type { Config } from '../config/schema.js';
import { GatewayError } from '../core/errors.js';
import { parseBody, usdField } from '../http/parse.js';
import type { Logger } from '../observability/logger.js';
import type { Store } from '../store/types.js';
import { generateWebhookSecret } from './signing.js';
import { type Resolver, TargetPolicy } from './targets.js';
import { WebhookClient } from './webhook-client.js';

export { signDelivery, verifyDelivery } from './signing.js';
export { TargetPolicy } from './targets.js';

export const ALERT_EVENTS = ['model.unavailable', 'model.recovered', 'balance.low', 'budget.threshold'] as const;
export type AlertEvent = (typeof ALERT_EVENTS)[number] | 'test';

export const settingsSchema = z
  .object({
    webhook_url: z.string().url().refine((u) => /^https?:\/\//.test(u), 'must be an http(s) URL').nullable().optional(),
    email: z.string().email().nullable().optional(),
    events: z.array(z.enum(ALERT_EVENTS)).optional(),
    balance_low_usd: usdField.nullable().optional(),
    budget_threshold_pct: z.number().finite().min(1).max(100).nullable().optional(),
  })
  .strict();

export type AlertSettings = {
  webhook_url: string | null;
  email: string | null;
  events: string[];
  balance_low_usd: number | null;
  budget_threshold_pct: number | null;
};

/** As stored: the settings plus the org's signing secret, which leaves the service only once, when made. */
type StoredSettings = AlertSettings & { webhook_secret?: string };

/** What the management API shows: never the secret, only whether one exists (and the new one, once). */
export type PublicAlertSettings = AlertSettings & { webhook_secret_set: boolean; webhook_secret?: string };

const DEFAULTS: AlertSettings = { webhook_url: null, email: null, events: [], balance_low_usd: null, budget_threshold_pct: 80 };

/** What a delivery reports to the org admin: the outcome and the receiver's HTTP status, never connection details. */
export interface DeliveryResult {
  delivered: boolean;
  channel: 'webhook' | 'email' | 'none';
  status?: number;
  attempts: number;
}

function publicView(s: StoredSettings, revealSecret = false): PublicAlertSettings {
  const { webhook_secret, ...rest } = s;
  return { ...rest, webhook_secret_set: webhook_secret !== undefined, ...(revealSecret && webhook_secret ? { webhook_secret } : {}) };
}

export interface AlertDeps {
  store: Store;
  log: Logger;
  config: Config['alerts'];
  /** delays between webhook attempts; the first try is immediate */
  retryDelaysMs?: number[];
  /** Cross-instance memory of raised conditions: sets `id` and returns the value it had (undefined if never set). */
  shared?: { swap(id: string, active: boolean): Promise<boolean | undefined> };
  /** Name resolution for webhook hosts (default: the system resolver). */
  resolve?: Resolver;
}

/** How long an instance trusts its cached copy of an org's settings: another instance may have saved new ones. */
const SETTINGS_TTL_MS = 30_000;

/** The org's balance and the given keys' spends, read after a charge. */
type SpendSnapshot = (orgId: string, keyIds: string[]) => Promise<{ balance: number; keySpends: Map<string, number> }>;

export class AlertService {
  private readonly settings = new Map<string, StoredSettings>();
  /** when each org's settings were last read from the store (or saved here) */
  private readonly loadedAt = new Map<string, number>();
  private readonly refreshing = new Set<string>();
  /** bumped on every local save, so a slower background read never overwrites it */
  private version = 0;
  /** transitions already announced: `${org}|${event}|${subject}` */
  private readonly active = new Set<string>();
  private readonly retryDelays: number[];
  private pending = 0;
  private readonly policy: TargetPolicy;
  private readonly webhooks: WebhookClient;

  constructor(private readonly deps: AlertDeps) {
    this.retryDelays = deps.retryDelaysMs ?? [1000, 5000, 30000, 120000];
    this.policy = new TargetPolicy({ allowPrivate: deps.config.allow_private_targets, allowedHosts: deps.config.allowed_hosts }, deps.resolve);
    this.webhooks = new WebhookClient(this.policy);
  }

  close(): Promise<void> {
    return this.webhooks.close();
  }

  async load(orgIds: string[]): Promise<void> {
    for (const id of orgIds) this.remember(id, (await this.deps.store.getAlertSettings(id))?.settings);
  }

  private remember(orgId: string, saved: unknown): void {
    if (saved) this.settings.set(orgId, { ...DEFAULTS, ...(saved as Partial<StoredSettings>) });
    this.loadedAt.set(orgId, Date.now());
  }

  private async stored(orgId: string): Promise<StoredSettings> {
    this.remember(orgId, (await this.deps.store.getAlertSettings(orgId))?.settings);
    return { ...DEFAULTS, ...this.settings.get(orgId) };
  }

  private async save(orgId: string, next: StoredSettings): Promise<void> {
    await this.deps.store.putAlertSettings({ org_id: orgId, settings: next, updated_at: Date.now() });
    this.version++;
    this.settings.set(orgId, next);
    this.loadedAt.set(orgId, Date.now());
  }

  /** The management API reads the store: the settings may have been saved through another instance. */
  async getSettings(orgId: string): Promise<PublicAlertSettings> {
    return publicView(await this.stored(orgId));
  }

  /** Saves settings; the first time a webhook is set, the org's signing secret is made and shown in this answer only. */
  async putSettings(orgId: string, body: unknown): Promise<PublicAlertSettings> {
    const parsed = parseBody(settingsSchema, body);
    if (parsed.webhook_url) {
      const host = new URL(parsed.webhook_url).hostname;
      const refusal = this.policy.refusalOnSave(host);
      if (refusal === 'address') {
        throw new GatewayError('invalid_value', 'webhook_url points inside the gateway\'s own network (loopback, private, link-local or metadata address); use a public address.', { param: 'webhook_url' });
      }
      if (refusal === 'name') {
        throw new GatewayError(
          'invalid_value',
          `webhook_url names the host "${host}", a loopback or metadata name (localhost and every name under it, or a cloud metadata service) that always points inside the gateway's own network; use a public address, or ask the operator to list it in alerts.allowed_hosts.`,
          { param: 'webhook_url' },
        );
      }
    }
    const next: StoredSettings = await this.stored(orgId);
    for (const [k, v] of Object.entries(parsed)) if (v !== undefined) (next as Record<string, unknown>)[k] = v;
    const made = next.webhook_url !== null && next.webhook_secret === undefined;
    if (made) next.webhook_secret = generateWebhookSecret();
    await this.save(orgId, next);
    return publicView(next, made);
  }

  /** Replaces the org's signing secret and shows the new one, once. The old one stops signing at once on this instance. */
  async rotateSecret(orgId: string): Promise<{ webhook_secret: string }> {
    const next = await this.stored(orgId);
    next.webhook_secret = generateWebhookSecret();
    await this.save(orgId, next);
    return { webhook_secret: next.webhook_secret };
  }

  /**
   * Settings for event delivery: the cached copy, re-read from the store in the background when
   * missing or older than SETTINGS_TTL_MS (so settings saved on another instance take effect
   * here too). Never waits on the store.
   */
  settingsFor(orgId: string): AlertSettings | undefined {
    const at = this.loadedAt.get(orgId);
    if ((at === undefined || Date.now() - at >= SETTINGS_TTL_MS) && !this.refreshing.has(orgId)) {
      this.refreshing.add(orgId);
      const version = this.version;
      this.deps.store
        .getAlertSettings(orgId)
        .then(
          (row) => {
            if (this.version === version) this.remember(orgId, row?.settings);
          },
          (err) => {
            this.loadedAt.set(orgId, Date.now());
            this.deps.log.warn({ err, orgId }, 'reading alert settings failed');
          },
        )
        .finally(() => this.refreshing.delete(orgId));
    }
    return this.settings.get(orgId);
  }

  async sendTest(orgId: string): Promise<DeliveryResult> {
    const s = await this.stored(orgId);
    if (!s.webhook_url && !s.email) throw new GatewayError('invalid_value', 'No webhook_url or email is set; save one with PUT /api/alerts first.', { param: 'webhook_url' });
    return this.deliver(orgId, s, 'test', { message: 'This is a test alert from Tollgate.' }, false);
  }

  /**
   * Raise (active=true) or clear (active=false) a condition. Model conditions announce both
   * edges (unavailable / recovered), balance and budget only the raising one. With
   * `announce` false the state is recorded but nothing is sent (another instance sends it).
   * With a shared state store, only the instance that flips the shared value announces.
   */
  transition(orgId: string, subject: string, condition: 'model' | 'balance' | 'budget', active: boolean, data: Record<string, unknown>, announce = true): void {
    const id = `${orgId}|${condition}|${subject}`;
    const was = this.active.has(id);
    if (active === was) return;
    if (active) this.active.add(id);
    else this.active.delete(id);
    const event: AlertEvent | undefined =
      condition === 'model' ? (active ? 'model.unavailable' : 'model.recovered') : active ? (condition === 'balance' ? 'balance.low' : 'budget.threshold') : undefined;
    // A transition learnt from another instance is that instance's to announce and record.
    if (!announce) return;
    const s = this.settingsFor(orgId);
    const wanted = event !== undefined && s?.events.includes(event) === true;
    const send = () => {
      if (wanted && event && s) void this.deliver(orgId, s, event, data, true);
    };
    const shared = this.deps.shared;
    if (!shared) {
      send();
      return;
    }
    // Every edge is recorded (a cleared balance.low must be raisable again); only the instance that flips the shared value sends.
    shared.swap(id, active).then((previous) => {
      if (previous !== active) send();
    }, send);
  }

  /**
   * After a charge: raise or clear balance.low and budget.threshold for this org and key.
   * Undefined, with nothing to wait for, when the org watches neither (most charges).
   */
  checkSpend(orgId: string, key: { id: string; budget_micros: number | null }, snapshot: SpendSnapshot): Promise<void> | undefined {
    const s = this.settingsFor(orgId);
    if (!s) return undefined;
    const wantsBalance = s.events.includes('balance.low') && s.balance_low_usd !== null;
    const wantsBudget = s.events.includes('budget.threshold') && s.budget_threshold_pct !== null && key.budget_micros !== null && key.budget_micros > 0;
    if (!wantsBalance && !wantsBudget) return undefined;
    return this.spendChanged(orgId, key, snapshot, s, wantsBalance, wantsBudget);
  }

  private async spendChanged(orgId: string, key: { id: string; budget_micros: number | null }, snapshot: SpendSnapshot, s: AlertSettings, wantsBalance: boolean, wantsBudget: boolean): Promise<void> {
    const snap = await snapshot(orgId, [key.id]);
    if (wantsBalance) {
      const threshold = Math.round((s.balance_low_usd ?? 0) * 1e6);
      this.transition(orgId, 'balance', 'balance', snap.balance < threshold, { balance_usd: snap.balance / 1e6, threshold_usd: s.balance_low_usd });
    }
    if (wantsBudget && key.budget_micros) {
      const spent = snap.keySpends.get(key.id) ?? 0;
      const pct = (spent / key.budget_micros) * 100;
      this.transition(orgId, key.id, 'budget', pct >= (s.budget_threshold_pct ?? 100), {
        key_id: key.id,
        spend_usd: spent / 1e6,
        budget_usd: key.budget_micros / 1e6,
        percent: Math.round(pct * 10) / 10,
      });
    }
  }

  get inFlight(): number {
    return this.pending;
  }

  private async deliver(orgId: string, s: StoredSettings, event: AlertEvent, data: Record<string, unknown>, retry: boolean): Promise<DeliveryResult> {
    const payload = JSON.stringify({ id: `evt_${randomUUID()}`, type: event, org_id: orgId, created_at: new Date().toISOString(), data });
    this.pending++;
    try {
      let result: DeliveryResult = { delivered: false, channel: 'none', attempts: 0 };
      if (s.webhook_url) result = await this.sendWebhook(orgId, s, s.webhook_url, payload, retry);
      if (s.email && this.deps.config.smtp_url) {
        const mail = await this.sendEmail(s.email, event, payload);
        if (!s.webhook_url) result = mail;
      }
      return result;
    } finally {
      this.pending--;
    }
  }

  /** A secret for an org whose webhook was saved before secrets existed: made and stored, never an empty key. */
  private async secretFor(orgId: string, s: StoredSettings): Promise<string> {
    if (s.webhook_secret) return s.webhook_secret;
    const latest = await this.stored(orgId);
    if (latest.webhook_secret) return latest.webhook_secret;
    latest.webhook_secret = generateWebhookSecret();
    await this.save(orgId, latest);
    this.deps.log.warn({ orgId }, 'made a webhook signing secret for an org that had none; the org admin can see a new one with POST /api/alerts/secret/rotate');
    return latest.webhook_secret;
  }

  private async sendWebhook(orgId: string, s: StoredSettings, url: string, payload: string, retry: boolean): Promise<DeliveryResult> {
    const delays = retry ? [0, ...this.retryDelays] : [0];
    let last: DeliveryResult = { delivered: false, channel: 'webhook', attempts: 0 };
    let secret: string;
    try {
      secret = await this.secretFor(orgId, s);
    } catch (err) {
      this.deps.log.warn({ err, orgId }, 'alert webhook not sent: its signing secret could not be stored');
      return last;
    }
    for (let i = 0; i < delays.length; i++) {
      if (delays[i] > 0) await new Promise((r) => setTimeout(r, delays[i]).unref());
      // Each attempt is signed afresh: its timestamp must be recent when the receiver checks it.
      const outcome = await this.webhooks.post(url, secret, payload);
      last = { delivered: outcome.ok, channel: 'webhook', ...(outcome.status !== undefined ? { status: outcome.status } : {}), attempts: i + 1 };
      if (outcome.ok) return last;
      this.deps.log.warn({ orgId, attempt: i + 1, status: outcome.status, reason: outcome.reason }, 'alert webhook delivery failed');
    }
    return last;
  }

  private async sendEmail(to: string, event: AlertEvent, payload: string): Promise<DeliveryResult> {
    try {
      const { createTransport } = await import('nodemailer');
      const transport = createTransport(this.deps.config.smtp_url!);
      await transport.sendMail({ from: this.deps.config.from ?? 'tollgate@localhost', to, subject: `[Tollgate] ${event}`, text: payload });
      return { delivered: true, channel: 'email', attempts: 1 };
    } catch (err) {
      this.deps.log.warn({ err }, 'alert email delivery failed');
      return { delivered: false, channel: 'email', attempts: 1 };
    }
  }
}
