// The request path's counters and histogram find each label set's child through one map per
// label: every distinct label set is its own series, whatever prefix it shares with another.
import { describe, expect, it } from 'vitest';
import { createMetrics } from '../../src/observability/metrics.js';

describe('label children of the request-path metrics', () => {
  it('counts each label set as its own series, including sets that share leading labels', async () => {
    const m = createMetrics();
    m.upstreamAttempts.inc(['up', 'a', 'ok']);
    m.upstreamAttempts.inc(['up', 'a', 'ok'], 2);
    m.upstreamAttempts.inc(['up', 'a', 'error']);
    m.upstreamAttempts.inc(['up', 'b', 'ok']);
    m.upstreamAttempts.inc(['other', 'a', 'ok']);
    m.latency.observe(['/v1/x', 'a', 'false'], 0.002);
    m.latency.observe(['/v1/x', 'a', 'true'], 0.002);
    const text = await m.registry.metrics();
    const lines = text.split('\n').filter((l) => l.startsWith('tollgate_upstream_attempts_total{'));
    expect(lines.sort()).toEqual(
      [
        'tollgate_upstream_attempts_total{provider="other",model="a",outcome="ok"} 1',
        'tollgate_upstream_attempts_total{provider="up",model="a",outcome="error"} 1',
        'tollgate_upstream_attempts_total{provider="up",model="a",outcome="ok"} 3',
        'tollgate_upstream_attempts_total{provider="up",model="b",outcome="ok"} 1',
      ].sort(),
    );
    expect(text).toContain('tollgate_request_duration_seconds_count{route="/v1/x",model="a",stream="false"} 1');
    expect(text).toContain('tollgate_request_duration_seconds_count{route="/v1/x",model="a",stream="true"} 1');
  });

  it('starts every series again after a reset', async () => {
    const m = createMetrics();
    m.tokens.inc(['a', 'prompt'], 5);
    m.registry.resetMetrics();
    m.tokens.inc(['a', 'prompt'], 2);
    expect(await m.registry.metrics()).toContain('tollgate_tokens_total{model="a",kind="prompt"} 2');
  });
});
