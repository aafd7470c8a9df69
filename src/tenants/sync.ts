// Keeps the in-memory tenant view of several instances in step: every local change goes out on
// a change feed (Redis), and each instance reloads what another one changed from the store. The
// store's own change sequence (kv/store-feed.ts) calls reload() too, with or without Redis.
import type { ChangeFeed } from '../kv/feed.js';
import type { Logger } from '../observability/logger.js';
import type { Store } from '../store/types.js';
import type { ChangeListener } from './service.js';
import type { TenantView } from './view.js';

export interface TenantChange {
  kind: 'org' | 'key';
  id: string;
}

export class TenantSync {
  private unsubscribe: (() => void) | undefined;

  constructor(
    private readonly feed: ChangeFeed<TenantChange>,
    private readonly store: Store,
    private readonly view: TenantView,
    private readonly log: Logger,
  ) {}

  start(): void {
    this.unsubscribe = this.feed.subscribe({
      onMessage: (msg) => void this.reload(msg),
      onResync: () => {
        this.view.load(this.store).catch((err) => this.log.warn({ err }, 'tenant view reload failed'));
      },
    });
  }

  /** The listener to hang on TenantService.onChange. */
  readonly publish: ChangeListener = (change) => {
    if (change.kind === 'grant') return;
    this.feed.publish({ kind: change.kind, id: change.id });
  };

  /** Re-reads a changed org or key from the store into the view (idempotent). */
  async reload(msg: TenantChange): Promise<void> {
    if (typeof msg?.id !== 'string') return;
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

  close(): void {
    this.unsubscribe?.();
    this.unsubscribe = undefined;
  }
}
