import { DEFAULT_WINDOW_MS, type LimitSpec } from './types.js';

/**
 * A spec the caller built wrongly. It is a programming error, not an outage, so the resilient
 * limiter lets it through instead of turning it into "limiter unavailable".
 */
export class InvalidLimitSpecError extends TypeError {
  constructor(message: string) {
    super(message);
    this.name = 'InvalidLimitSpecError';
  }
}

export type LimitMetric = 'rpm' | 'tpm';
export type LimitScope = 'key' | 'org';

/** The counter name for one metric of one key or org, e.g. `tpm:org:org_123`. */
export function limitKey(metric: LimitMetric, scope: LimitScope, id: string): string {
  return `${metric}:${scope}:${id}`;
}

// Limits and costs are counts (requests, tokens); rounding them the same way in both
// implementations keeps the memory and Redis limiters in exact agreement.
export function specLimit(spec: LimitSpec): number {
  return Math.floor(spec.limit);
}

export function specCost(spec: LimitSpec): number {
  return Math.ceil(spec.cost);
}

export function specWindow(spec: LimitSpec): number {
  return spec.windowMs === undefined ? DEFAULT_WINDOW_MS : Math.max(1, Math.floor(spec.windowMs));
}

export function assertSpecs(specs: readonly LimitSpec[]): void {
  const n = specs.length;
  for (let i = 0; i < n; i++) {
    const s = specs[i];
    if (typeof s.key !== 'string' || s.key.length === 0) {
      throw new InvalidLimitSpecError(`limit spec ${i} has no key`);
    }
    if (!(Number.isFinite(s.limit) && s.limit >= 0)) {
      throw new InvalidLimitSpecError(`limit spec ${s.key}: limit must be a finite number >= 0`);
    }
    if (!(Number.isFinite(s.cost) && s.cost >= 0)) {
      throw new InvalidLimitSpecError(`limit spec ${s.key}: cost must be a finite number >= 0`);
    }
    if (s.windowMs !== undefined && !(Number.isFinite(s.windowMs) && s.windowMs > 0)) {
      throw new InvalidLimitSpecError(`limit spec ${s.key}: windowMs must be a positive number`);
    }
    // One entry per ticket and key: the same key twice would be checked against the same
    // pre-request sum and could overshoot its limit.
    for (let j = 0; j < i; j++) {
      if (specs[j].key === s.key) throw new InvalidLimitSpecError(`limit spec key ${s.key} appears twice`);
    }
  }
}

export function assertCost(newCost: number): void {
  if (!(Number.isFinite(newCost) && newCost >= 0)) {
    throw new InvalidLimitSpecError('adjusted cost must be a finite number >= 0');
  }
}
