// Balances, spends and open reservations of one instance, kept in memory and changed only
// synchronously, so a reserve decision can never interleave with another (SPEC §6).
import { formatUsd } from './money.js';

export interface ReserveInput {
  orgId: string;
  keyId: string;
  amount: number;
  keyBudget: number | null;
  orgCap: number | null;
  /** How `amount` was reached, so a refusal can say how many output tokens would fit. */
  quote?: ReserveQuote;
}

/** The parts of a worst-case cost: the prompt, and a price per output token times the most it may produce. */
export interface ReserveQuote {
  promptMicros: number;
  /** micro-USD per output token (= the model's USD per million output tokens) */
  outputMicrosPerToken: number;
  maxOutputTokens: number;
}

export type ReserveOutcome =
  | { ok: true; reservation: Reservation }
  | { ok: false; code: 'insufficient_balance' | 'budget_exceeded'; message: string };

export interface Reservation {
  orgId: string;
  keyId: string;
  amount: number;
  settled: boolean;
}

export interface AccountSnapshot {
  balance: number;
  reserved: number;
  orgSpend: number;
  keySpends: Map<string, number>;
}

/**
 * Where balances, spends and open reservations live: in this process (one instance) or in
 * Redis (several). Each decision is atomic in its backend.
 */
export interface CreditLedger {
  reserve(r: ReserveInput): Promise<ReserveOutcome>;
  /** Releases the hold and applies the real cost. Idempotent. */
  settle(res: Reservation, actual: number): Promise<void>;
  /** A charge with no reservation. */
  charge(orgId: string, keyId: string, amount: number): Promise<void>;
  /** Applies a grant already durable in the store; `entryId` (its ledger entry) makes a retry harmless. */
  grant(orgId: string, amount: number, entryId?: string): Promise<void>;
  /** A change the shared totals may have missed (the backend failed): re-derive them later. */
  noteMissed?(orgId: string): void;
  /** reserve() decided at once, by a ledger that keeps its totals in this process. */
  reserveSync?(r: ReserveInput): ReserveOutcome;
  /** settle() applied at once, by a ledger that keeps its totals in this process. */
  settleSync?(res: Reservation, actual: number): void;
  snapshot(orgId: string, keyIds?: readonly string[]): Promise<AccountSnapshot>;
  close(): Promise<void>;
}

/** What fits in `left` micro-USD: "about N output tokens", or why nothing does. */
function affordable(left: number, q: ReserveQuote | undefined): string {
  if (!q) return 'Set max_tokens lower (when it is unset the gateway reserves for the model\'s longest answer)';
  if (left < q.promptMicros) return `The prompt alone may cost ${formatUsd(q.promptMicros)}, more than that: shorten it`;
  if (q.outputMicrosPerToken <= 0) return 'Shorten the prompt';
  const tokens = Math.floor((left - q.promptMicros) / q.outputMicrosPerToken);
  if (tokens < 1) return 'After the prompt, not even one output token fits: shorten the prompt';
  return `It can afford about ${tokens} output tokens: set max_tokens to ${tokens} or less`;
}

const worstCase = (amount: number, q: ReserveQuote | undefined) =>
  `this request's worst case (${formatUsd(amount)}${q ? `: the prompt plus up to ${q.maxOutputTokens} output tokens` : ''})`;

export function insufficientBalance(balance: number, reserved: number, amount: number, quote?: ReserveQuote): ReserveOutcome {
  const available = balance - reserved;
  const message =
    available <= 0
      ? `The organisation's balance is used up (${formatUsd(balance)}${reserved > 0 ? `, ${formatUsd(reserved)} held by requests in flight` : ''}). Ask the operator to add credit.`
      : `The organisation's available balance (${formatUsd(available)}) does not cover ${worstCase(amount, quote)}. ${affordable(available, quote)}, or ask the operator to add credit.`;
  return { ok: false, code: 'insufficient_balance', message };
}

/**
 * The key budget cannot cover this request. Either the budget is used up, or what is left is
 * real but smaller than this request's worst case, which a lower max_tokens can fix.
 */
export function keyBudgetReached(spent: number, budget: number, amount: number, extra: { held?: number; quote?: ReserveQuote } = {}): ReserveOutcome {
  const held = extra.held ?? 0;
  const left = budget - spent - held;
  const inFlight = held > 0 ? `, ${formatUsd(held)} held by requests in flight` : '';
  const message =
    left <= 0
      ? `This key's budget is used up: ${formatUsd(spent)} spent of ${formatUsd(budget)}${inFlight}. Raise the key's budget_usd with PATCH /api/keys/{id}.`
      : `This key's budget has ${formatUsd(left)} left (${formatUsd(spent)} spent of ${formatUsd(budget)}${inFlight}), less than ${worstCase(amount, extra.quote)}. ${affordable(left, extra.quote)}, or raise the key's budget_usd with PATCH /api/keys/{id}.`;
  return { ok: false, code: 'budget_exceeded', message };
}

export function orgCapReached(spent: number, cap: number, amount: number, extra: { held?: number; quote?: ReserveQuote } = {}): ReserveOutcome {
  const held = extra.held ?? 0;
  const left = cap - spent - held;
  const message =
    left <= 0
      ? `The organisation's spend cap is reached: ${formatUsd(spent)} spent of ${formatUsd(cap)}. Ask the operator to raise the cap.`
      : `The organisation's spend cap has ${formatUsd(left)} left (${formatUsd(spent)} spent of ${formatUsd(cap)}), less than ${worstCase(amount, extra.quote)}. ${affordable(left, extra.quote)}, or ask the operator to raise the cap.`;
  return { ok: false, code: 'budget_exceeded', message };
}

const add = (m: Map<string, number>, k: string, v: number) => m.set(k, (m.get(k) ?? 0) + v);

export class CreditAccounts {
  /** The async CreditLedger view of these accounts, for the engine and routes. */
  readonly ledger: CreditLedger = {
    reserve: async (r) => this.reserve(r),
    settle: async (res, actual) => this.settle(res, actual),
    reserveSync: (r) => this.reserve(r),
    settleSync: (res, actual) => this.settle(res, actual),
    charge: async (o, k, a) => this.charge(o, k, a),
    grant: async (o, a, entryId) => this.grant(o, a, entryId),
    snapshot: async (orgId, keyIds = []) => ({
      balance: this.balanceOf(orgId),
      reserved: this.reservedFor(orgId),
      orgSpend: this.orgSpendOf(orgId),
      keySpends: new Map(keyIds.map((k) => [k, this.keySpendOf(k)])),
    }),
    close: async () => {},
  };

  private readonly balance = new Map<string, number>();
  private readonly orgReserved = new Map<string, number>();
  private readonly orgSpend = new Map<string, number>();
  private readonly keyReserved = new Map<string, number>();
  private readonly keySpend = new Map<string, number>();
  private readonly grantsApplied = new Set<string>();

  load(balances: Map<string, number>, keySpends: Map<string, number>, orgSpends: Map<string, number>): void {
    for (const [k, v] of balances) this.balance.set(k, v);
    for (const [k, v] of keySpends) this.keySpend.set(k, v);
    for (const [k, v] of orgSpends) this.orgSpend.set(k, v);
  }

  reserve(r: ReserveInput): ReserveOutcome {
    const balance = this.balance.get(r.orgId) ?? 0;
    const orgReserved = this.orgReserved.get(r.orgId) ?? 0;
    const available = balance - orgReserved;
    if (available <= 0 || available < r.amount) return insufficientBalance(balance, orgReserved, r.amount, r.quote);
    if (r.keyBudget !== null) {
      const held = this.keyReserved.get(r.keyId) ?? 0;
      const spent = (this.keySpend.get(r.keyId) ?? 0) + held;
      if (spent + r.amount > r.keyBudget) return keyBudgetReached(this.keySpend.get(r.keyId) ?? 0, r.keyBudget, r.amount, { held, quote: r.quote });
    }
    if (r.orgCap !== null) {
      const spent = (this.orgSpend.get(r.orgId) ?? 0) + orgReserved;
      if (spent + r.amount > r.orgCap) return orgCapReached(this.orgSpend.get(r.orgId) ?? 0, r.orgCap, r.amount, { held: orgReserved, quote: r.quote });
    }
    add(this.orgReserved, r.orgId, r.amount);
    add(this.keyReserved, r.keyId, r.amount);
    return { ok: true, reservation: { orgId: r.orgId, keyId: r.keyId, amount: r.amount, settled: false } };
  }

  /** Releases the hold and applies the real cost. Idempotent. */
  settle(res: Reservation, actual: number): void {
    if (res.settled) return;
    res.settled = true;
    add(this.orgReserved, res.orgId, -res.amount);
    add(this.keyReserved, res.keyId, -res.amount);
    if (actual !== 0) this.charge(res.orgId, res.keyId, actual);
  }

  /** A charge with no reservation (e.g. replayed from another path). */
  charge(orgId: string, keyId: string, amount: number): void {
    add(this.balance, orgId, -amount);
    add(this.orgSpend, orgId, amount);
    add(this.keySpend, keyId, amount);
  }

  /** With `entryId`, a grant learnt twice (its own call and the store's change feed) counts once. */
  grant(orgId: string, amount: number, entryId?: string): void {
    if (entryId !== undefined) {
      if (this.grantsApplied.has(entryId)) return;
      this.grantsApplied.add(entryId);
      // Bounded: a feed replays only recent entries, so the oldest ids can go.
      if (this.grantsApplied.size > 100_000) this.grantsApplied.delete(this.grantsApplied.values().next().value as string);
    }
    add(this.balance, orgId, amount);
  }

  balanceOf(orgId: string): number {
    return this.balance.get(orgId) ?? 0;
  }

  keySpendOf(keyId: string): number {
    return this.keySpend.get(keyId) ?? 0;
  }

  orgSpendOf(orgId: string): number {
    return this.orgSpend.get(orgId) ?? 0;
  }

  reservedFor(orgId: string): number {
    return this.orgReserved.get(orgId) ?? 0;
  }
}
