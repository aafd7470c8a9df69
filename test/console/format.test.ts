// Money as the console shows it: $x.xx, with up to 6 decimals for amounts under a cent.
import { describe, expect, it } from 'vitest';
import { formatCompact, formatUsd } from '../../console/src/format.js';

describe('console money formatting', () => {
  it('shows dollars and cents for ordinary amounts', () => {
    expect(formatUsd(0)).toBe('$0.00');
    expect(formatUsd(15)).toBe('$15.00');
    expect(formatUsd(1234.5)).toBe('$1,234.50');
    expect(formatUsd(-0.25)).toBe('-$0.25');
  });

  it('keeps up to six decimals for amounts under a cent, so per-request costs stay visible', () => {
    expect(formatUsd(0.000001)).toBe('$0.000001');
    expect(formatUsd(0.0042)).toBe('$0.0042');
    expect(formatUsd(-0.000123)).toBe('-$0.000123');
  });

  it('shows a dash for missing amounts', () => {
    expect(formatUsd(null)).toBe('—');
    expect(formatUsd(Number.NaN)).toBe('—');
  });

  it('keeps neighbouring small axis ticks distinct', () => {
    const ticks = [0, 0.005, 0.01, 0.015, 0.02].map((v) => formatCompact(v, true));
    expect(new Set(ticks).size).toBe(ticks.length);
    expect(formatCompact(2500, true)).toBe('$2.5k');
    expect(formatCompact(3)).toBe('3');
  });
});
