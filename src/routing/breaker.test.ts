import { describe, expect, it } from 'vitest';
import { CircuitBreaker } from './breaker.js';

const opts = { failureThreshold: 3, failureRate: 0.5, minRequests: 10, windowMs: 10_000, cooldownMs: 1000 };

describe('SPEC §5 circuit breaker', () => {
  it('opens on a run of consecutive failures, not on a single error', () => {
    const b = new CircuitBreaker(opts);
    b.record(false, 1, 0);
    expect(b.state).toBe('closed');
    b.record(false, 1, 1);
    b.record(false, 1, 2);
    expect(b.state).toBe('open');
    expect(b.allow(3)).toBe(false);
  });

  it('opens on a failure rate over the window once min_requests were seen', () => {
    const b = new CircuitBreaker(opts);
    let t = 0;
    // Alternating ok/fail never makes a run of 3, but half of 10 requests failed.
    for (let i = 0; i < 9; i++) b.record(i % 2 === 0, 1, (t += 100));
    expect(b.state).toBe('closed');
    b.record(false, 1, (t += 100));
    expect(b.state).toBe('open');
  });

  it('forgets outcomes older than the window', () => {
    const b = new CircuitBreaker(opts);
    for (let i = 0; i < 8; i++) b.record(i % 2 === 0, 1, i * 10);
    expect(b.stats(100).requests).toBe(8);
    // Eleven seconds later the old outcomes are out of the 10 s window.
    expect(b.stats(11_500).requests).toBe(0);
    b.record(true, 1, 11_500);
    b.record(false, 1, 11_501);
    expect(b.stats(11_502)).toMatchObject({ requests: 2, errorRate: 0.5 });
    expect(b.state).toBe('closed');
  });

  it('lets exactly one probe through when half-open, closes on its success', () => {
    const b = new CircuitBreaker(opts);
    for (let i = 0; i < 3; i++) b.record(false, 1, i);
    expect(b.allow(500)).toBe(false);
    expect(b.allow(1500)).toBe(true);
    expect(b.state).toBe('half-open');
    expect(b.allow(1501)).toBe(false);
    b.record(true, 5, 1600);
    expect(b.state).toBe('closed');
    expect(b.allow(1601)).toBe(true);
  });

  it('re-opens when the probe fails', () => {
    const b = new CircuitBreaker(opts);
    for (let i = 0; i < 3; i++) b.record(false, 1, i);
    expect(b.allow(1500)).toBe(true);
    b.record(false, 1, 1510);
    expect(b.state).toBe('open');
    expect(b.allow(1600)).toBe(false);
    expect(b.allow(2600)).toBe(true);
  });

  it('follows transitions learnt from another instance', () => {
    const b = new CircuitBreaker(opts);
    const seen: string[] = [];
    b.onChange = (s) => seen.push(s);
    b.forceOpen(0);
    expect(b.allow(10)).toBe(false);
    b.forceClose();
    expect(b.allow(20)).toBe(true);
    expect(seen).toEqual(['open', 'closed']);
  });
});
