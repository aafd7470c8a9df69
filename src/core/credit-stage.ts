// The reserve stage (SPEC §6): hold a request's worst-case cost before it goes upstream,
// refuse with 402 when the balance, the key budget or the org cap cannot cover it, and
// release the hold when nothing was spent.
import type { CreditLedger, ReserveInput, ReserveOutcome } from '../billing/accounts.js';
import type { Logger } from '../observability/logger.js';
import type { RequestContext } from './context.js';
import { GatewayError } from './errors.js';

type Reserved = Extract<ReserveOutcome, { ok: true }>;

/**
 * A reservation, or the ledger's refusal as 402; an unreachable shared ledger fails closed (503).
 * An in-process ledger (reserveSync) decides at once, with no promise.
 */
export function reserveCredit(ledger: CreditLedger, input: ReserveInput): Reserved | Promise<Reserved> {
  if (ledger.reserveSync) {
    let outcome: ReserveOutcome;
    try {
      outcome = ledger.reserveSync(input);
    } catch (err) {
      throw unreachable(err);
    }
    return accepted(outcome);
  }
  return ledger.reserve(input).then(accepted, (err) => {
    throw unreachable(err);
  });
}

function accepted(outcome: ReserveOutcome): Reserved {
  if (!outcome.ok) throw new GatewayError(outcome.code, outcome.message);
  return outcome;
}

function unreachable(err: unknown): GatewayError {
  return new GatewayError('overloaded', 'Budgets cannot be checked right now (the shared credit store is unreachable), so the request was refused. Retry shortly.', {
    retryAfterS: 1,
    cause: err,
  });
}

export function releaseCredit(ledger: CreditLedger, log: Logger, ctx: RequestContext): void {
  const res = ctx.reservation;
  if (!res) return;
  ledger.settle(res, 0).catch((err) => log.error({ err }, 'releasing a reservation failed'));
}
