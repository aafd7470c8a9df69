// Sends one signed webhook POST through a dispatcher that dials only addresses the target
// policy allows: the name is resolved here, the address checked, and that address connected to.
import { type Agent, request, undici } from '../routing/undici.js';
import { SIGNATURE_HEADER, signDelivery } from './signing.js';
import type { TargetPolicy } from './targets.js';

export type WebhookOutcome = { ok: true; status: number } | { ok: false; status?: number; reason: string };

const TIMEOUT_MS = 10_000;

export class WebhookClient {
  private agent: Agent | undefined;

  constructor(private readonly policy: TargetPolicy) {}

  /** The dispatcher, made at the first delivery (undici is loaded only then). */
  private dispatcher(): Agent {
    if (this.agent) return this.agent;
    const { Agent, buildConnector } = undici();
    const dial = buildConnector({ timeout: TIMEOUT_MS });
    const policy = this.policy;
    this.agent = new Agent({
      keepAliveTimeout: 5_000,
      connections: 16,
      connect: (opts, callback) => {
        policy.pick(opts.hostname).then(
          // `host` keeps the name, so TLS still verifies the certificate for it (SNI).
          (address) => dial({ ...opts, hostname: address }, callback),
          (err: Error) => callback(err, null),
        );
      },
    });
    return this.agent;
  }

  async post(url: string, secret: string, payload: string): Promise<WebhookOutcome> {
    try {
      const target = new URL(url);
      const res = await request(this.dispatcher(), {
        origin: target.origin,
        path: `${target.pathname}${target.search}`,
        method: 'POST',
        headers: { 'content-type': 'application/json', [SIGNATURE_HEADER]: signDelivery(secret, payload), 'user-agent': 'tollgate-alerts' },
        body: payload,
        headersTimeout: TIMEOUT_MS,
        bodyTimeout: TIMEOUT_MS,
      });
      await res.body.dump();
      return res.statusCode < 300 ? { ok: true, status: res.statusCode } : { ok: false, status: res.statusCode, reason: `HTTP ${res.statusCode}` };
    } catch (err) {
      return { ok: false, reason: (err as Error).message };
    }
  }

  /** At shutdown: a hung receiver must not hold the process, so open deliveries are cut. */
  close(): Promise<void> {
    return this.agent ? this.agent.destroy() : Promise.resolve();
  }
}
