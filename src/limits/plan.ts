// Turns a key's and its org's configured rpm/tpm into the specs of one acquire, and the decision
// back into what the engine needs: the error code, the headers, the keys to correct later.
import { tighter } from './headers.js';
import { type LimitMetric, limitKey } from './specs.js';
import type { LimitSpec, LimitState } from './types.js';

/** null or undefined: no limit of that kind. */
export interface LimitSettings {
  rpm?: number | null;
  tpm?: number | null;
}

export interface PlanLimitsInput {
  keyId: string;
  orgId: string;
  key: LimitSettings;
  org: LimitSettings;
  /** The request's estimated tokens (prompt + expected output): its TPM cost until adjusted. */
  tokens: number;
  windowMs?: number;
}

export interface LimitPlan {
  specs: LimitSpec[];
  /** The metric of each spec, index for index. */
  metrics: LimitMetric[];
}

export function planLimits(input: PlanLimitsInput): LimitPlan {
  const plan: LimitPlan = { specs: [], metrics: [] };
  addSpec(plan, input, 'rpm', 'key', input.keyId, input.key.rpm);
  addSpec(plan, input, 'tpm', 'key', input.keyId, input.key.tpm);
  addSpec(plan, input, 'rpm', 'org', input.orgId, input.org.rpm);
  addSpec(plan, input, 'tpm', 'org', input.orgId, input.org.tpm);
  return plan;
}

function addSpec(plan: LimitPlan, input: PlanLimitsInput, metric: LimitMetric, scope: 'key' | 'org', id: string, limit: number | null | undefined): void {
  if (limit === null || limit === undefined) return;
  plan.specs.push({ key: limitKey(metric, scope, id), limit, cost: metric === 'rpm' ? 1 : input.tokens, windowMs: input.windowMs });
  plan.metrics.push(metric);
}

/** The SPEC §12 code for a refusal on spec `failed`. */
export function exceededCode(plan: LimitPlan, failed: number): 'rpm_exceeded' | 'tpm_exceeded' {
  return plan.metrics[failed] === 'tpm' ? 'tpm_exceeded' : 'rpm_exceeded';
}

/** The binding rpm and tpm states, ready for rateLimitHeaders(rpm, tpm). */
export function headerStates(plan: LimitPlan, states: readonly LimitState[]): { rpm?: LimitState; tpm?: LimitState } {
  let rpm: LimitState | undefined;
  let tpm: LimitState | undefined;
  for (let i = 0; i < states.length; i++) {
    if (plan.metrics[i] === 'tpm') tpm = tighter(tpm, states[i]);
    else rpm = tighter(rpm, states[i]);
  }
  return { rpm, tpm };
}

/** The spec keys whose cost should be corrected to the real token count once it is known. */
export function tokenKeys(plan: LimitPlan): string[] {
  const keys: string[] = [];
  for (let i = 0; i < plan.specs.length; i++) if (plan.metrics[i] === 'tpm') keys.push(plan.specs[i].key);
  return keys;
}
