// Shares circuit-breaker transitions between instances over a change feed, so when one
// instance finds a channel dead every instance stops sending to it (and resumes together).
import type { ChangeFeed } from '../kv/feed.js';
import type { CircuitState } from './breaker.js';
import type { ChannelTable } from './channels.js';

export interface BreakerChange {
  channel: string;
  state: CircuitState;
}

export class BreakerSync {
  /** set while applying a remote transition, so it is not echoed back */
  private applying = false;
  private unsubscribe: (() => void) | undefined;

  constructor(
    private readonly feed: ChangeFeed<BreakerChange>,
    private readonly table: ChannelTable,
  ) {}

  /** True while a transition learnt from another instance is applied (that instance announces it). */
  get applyingRemote(): boolean {
    return this.applying;
  }

  start(): void {
    this.unsubscribe = this.feed.subscribe({ onMessage: (msg) => this.apply(msg) });
  }

  /** Call on every local transition. */
  publish(channelId: string, state: CircuitState): void {
    if (this.applying || state === 'half-open') return;
    this.feed.publish({ channel: channelId, state });
  }

  private apply(msg: BreakerChange): void {
    if (typeof msg?.channel !== 'string') return;
    for (const m of this.table.runtimes()) {
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

  close(): void {
    this.unsubscribe?.();
    this.unsubscribe = undefined;
  }
}
