// Keeps the in-memory tenant view of several instances in step: every local change is
// published on Redis, and each instance reloads what another one changed from the store.
import { randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';
import { closeRedisClient } from '../limits/redis-client.js';
import type { Logger } from '../observability/logger.js';
import type { Store } from '../store/types.js';
import type { ChangeListener } from './service.js';
import type { TenantView } from './view.js';

interface ChangeMessage {
  from: string;
  kind: 'org' | 'key';
  id: string;
}

export class TenantSync {
  private readonly instance = randomBytes(8).toString('hex');
  private readonly channel: string;

  constructor(
    private readonly pub: Redis,
    private readonly sub: Redis,
    private readonly store: Store,
    private readonly view: TenantView,
    private readonly log: Logger,
    prefix: string,
  ) {
    this.channel = `${prefix}tenants`;
  }

  async start(): Promise<void> {
    this.sub.on('message', (channel: string, text: string) => {
      if (channel !== this.channel) return;
      void this.apply(text);
    });
    // After a reconnect, changes may have been missed: reload everything.
    this.sub.on('ready', () => {
      this.view.load(this.store).catch((err) => this.log.warn({ err }, 'tenant view reload failed'));
    });
    await this.sub.subscribe(this.channel);
  }

  /** The listener to hang on TenantService.onChange. */
  readonly publish: ChangeListener = (change) => {
    if (change.kind === 'grant') return;
    const msg: ChangeMessage = { from: this.instance, kind: change.kind, id: change.id };
    this.pub.publish(this.channel, JSON.stringify(msg)).catch((err) => this.log.warn({ err }, 'tenant change publish failed'));
  };

  private async apply(text: string): Promise<void> {
    let msg: ChangeMessage;
    try {
      msg = JSON.parse(text);
    } catch {
      return;
    }
    if (msg.from === this.instance || typeof msg.id !== 'string') return;
    try {
      if (msg.kind === 'org') {
        const org = await this.store.getOrg(msg.id);
        if (org) this.view.putOrg(org);
      } else if (msg.kind === 'key') {
        const key = await this.store.getKey(msg.id);
        if (key) this.view.putKey(key);
      }
    } catch (err) {
      this.log.warn({ err, change: msg }, 'applying a tenant change from another instance failed');
    }
  }

  async close(): Promise<void> {
    // quit() waits for Redis to acknowledge; on a connection that is down, the subscriber
    // (offline queue on, unlimited retries) would queue it forever and hang shutdown.
    await closeRedisClient(this.sub);
    await closeRedisClient(this.pub);
  }
}
