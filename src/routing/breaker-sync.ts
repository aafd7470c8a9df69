// Shares circuit-breaker transitions between instances over Redis pub/sub, so when one
// instance finds a channel dead every instance stops sending to it (and resumes together).
import { randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';
import { closeRedisClient } from '../limits/redis-client.js';
import type { Logger } from '../observability/logger.js';
import type { CircuitState } from './breaker.js';
import type { ChannelTable } from './channels.js';

interface BreakerMessage {
  from: string;
  channel: string;
  state: CircuitState;
}

export class BreakerSync {
  private readonly instance = randomBytes(8).toString('hex');
  private readonly topic: string;
  /** set while applying a remote transition, so it is not echoed back */
  private applying = false;

  constructor(
    private readonly pub: Redis,
    private readonly sub: Redis,
    private readonly table: ChannelTable,
    private readonly log: Logger,
    prefix: string,
  ) {
    this.topic = `${prefix}breakers`;
  }

  /** True while a transition learnt from another instance is applied (that instance announces it). */
  get applyingRemote(): boolean {
    return this.applying;
  }

  async start(): Promise<void> {
    this.sub.on('message', (channel: string, text: string) => {
      if (channel === this.topic) this.apply(text);
    });
    await this.sub.subscribe(this.topic);
  }

  /** Call on every local transition. */
  publish(channelId: string, state: CircuitState): void {
    if (this.applying || state === 'half-open') return;
    const msg: BreakerMessage = { from: this.instance, channel: channelId, state };
    this.pub.publish(this.topic, JSON.stringify(msg)).catch((err) => this.log.debug({ err }, 'breaker publish failed'));
  }

  private apply(text: string): void {
    let msg: BreakerMessage;
    try {
      msg = JSON.parse(text);
    } catch {
      return;
    }
    if (msg.from === this.instance) return;
    for (const m of this.table.models.values()) {
      for (const c of m.channels) {
        if (c.id !== msg.channel) continue;
        this.applying = true;
        try {
          if (msg.state === 'open') c.breaker.forceOpen();
          else if (msg.state === 'closed') c.breaker.forceClose();
        } finally {
          this.applying = false;
        }
      }
    }
  }

  async close(): Promise<void> {
    await closeRedisClient(this.sub);
  }
}
