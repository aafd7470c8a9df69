// What budgets do when the shared (Redis) credit store fails: refuse with 503, or, when the
// operator chose `redis.on_unavailable: local`, decide against a local copy of the org's
// totals read from the durable ledger. Spending stays bounded by the stored balance.
import type { Logger } from '../observability/logger.js';
import { type AccountSnapshot, CreditAccounts, type CreditLedger, type Reservation, type ReserveInput, type ReserveOutcome } from './accounts.js';

import type { OrgTotals } from './redis-ledger.js';

export type { OrgTotals } from './redis-ledger.js';

export class ResilientLedger implements CreditLedger {
  private readonly local = new CreditAccounts();
  private readonly seeded = new Set<string>();
  private readonly localHolds = new WeakSet<Reservation>();
  private skipPrimaryUntil = 0;

  constructor(
    private readonly primary: CreditLedger,
    private readonly mode: 'fail_closed' | 'local',
    private readonly loadOrg: (orgId: string) => Promise<OrgTotals>,
    private readonly log: Logger,
    private readonly probeAfterMs = 1000,
  ) {}

  private async seed(orgId: string): Promise<void> {
    if (this.seeded.has(orgId)) return;
    const t = await this.loadOrg(orgId);
    if (this.seeded.has(orgId)) return;
    this.seeded.add(orgId);
    this.local.load(new Map([[orgId, t.balance]]), t.keySpends, new Map([[orgId, t.orgSpend]]));
  }

  private failed(err: unknown): void {
    this.skipPrimaryUntil = Date.now() + this.probeAfterMs;
    this.log.warn({ err }, 'shared credit store unavailable');
    if (this.mode === 'fail_closed') throw err;
  }

  async reserve(r: ReserveInput): Promise<ReserveOutcome> {
    if (Date.now() >= this.skipPrimaryUntil) {
      try {
        return await this.primary.reserve(r);
      } catch (err) {
        this.failed(err);
      }
    } else if (this.mode === 'fail_closed') {
      throw new Error('shared credit store unavailable');
    }
    await this.seed(r.orgId);
    // Whatever is decided here, Redis does not see: its totals for this org are re-derived later.
    this.primary.noteMissed?.(r.orgId);
    const outcome = this.local.reserve(r);
    if (outcome.ok) this.localHolds.add(outcome.reservation);
    return outcome;
  }

  async settle(res: Reservation, actual: number): Promise<void> {
    if (this.localHolds.has(res)) {
      this.local.settle(res, actual);
      if (actual !== 0) this.primary.noteMissed?.(res.orgId);
      return;
    }
    try {
      await this.primary.settle(res, actual);
    } catch (err) {
      // The charge is durable in the store either way; only the shared running total missed it.
      if (this.seeded.has(res.orgId)) this.local.charge(res.orgId, res.keyId, actual);
      this.log.warn({ err }, 'settling on the shared credit store failed');
    }
  }

  async charge(orgId: string, keyId: string, amount: number): Promise<void> {
    try {
      await this.primary.charge(orgId, keyId, amount);
    } catch (err) {
      if (this.seeded.has(orgId)) this.local.charge(orgId, keyId, amount);
      this.log.warn({ err }, 'charging on the shared credit store failed');
    }
  }

  async grant(orgId: string, amount: number, entryId?: string): Promise<void> {
    if (this.seeded.has(orgId)) this.local.grant(orgId, amount);
    try {
      await this.primary.grant(orgId, amount, entryId);
    } catch (err) {
      this.log.warn({ err }, 'granting on the shared credit store failed; it is durable in the store and applied when Redis is back');
    }
  }

  async snapshot(orgId: string, keyIds: readonly string[] = []): Promise<AccountSnapshot> {
    try {
      return await this.primary.snapshot(orgId, keyIds);
    } catch {
      await this.seed(orgId);
      return this.local.ledger.snapshot(orgId, keyIds);
    }
  }

  close(): Promise<void> {
    return this.primary.close();
  }
}
