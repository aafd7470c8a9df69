// SPEC §5 routing: among a model's healthy channels Tollgate picks by priority, then weight;
// circuit state of every channel is visible at GET /admin/models and in /metrics.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestGateway, type TestGateway } from '../helpers/gateway.js';
import { ask, channelStateMetric, channelsOf, fail, model, provider, SERVER, type Scripted, send, startScripted } from './support.js';

const THRESHOLD = 3;

let up: Scripted;
let gw: TestGateway;
let key: string;

beforeAll(async () => {
  up = await startScripted();
  gw = await startTestGateway({
    raw: {
      server: SERVER,
      providers: [provider('up', up.url)],
      models: [
        model('weighted', [
          ['up', 'heavy', 0, 3],
          ['up', 'light', 0, 1],
        ]),
        model('tiered', [
          ['up', 'tier0', 0],
          ['up', 'tier1', 1],
        ]),
      ],
      routing: { retry_base_ms: 5, retry_max_ms: 50, retry_budget_ratio: 1 },
      // A long cooldown: nothing here is about recovery, so an open breaker stays open.
      circuit_breaker: { failure_threshold: THRESHOLD, min_requests: 1000, cooldown_s: 60 },
      limits: { key_rpm: null },
    },
  });
  const org = await gw.createOrg(100);
  key = (await gw.createKey(org.mk)).key;
});

afterAll(async () => {
  await gw?.close();
  await up?.close();
});

describe('SPEC §5 routing: priority, then weight, among healthy channels', () => {
  it('splits traffic 3:1 between two priority-0 channels weighted 3 and 1', async () => {
    const total = 400;
    const statuses: number[] = [];
    for (let i = 0; i < total; i += 10) {
      const batch = await Promise.all(Array.from({ length: 10 }, () => send(gw, key, ask('weighted', 'weights'))));
      for (const r of batch) statuses.push(r.status);
    }
    expect(statuses.filter((s) => s === 200)).toHaveLength(total);
    const heavy = up.count('heavy');
    const light = up.count('light');
    expect(heavy + light).toBe(total);
    // Binomial(400, 0.75): sd ≈ 8.7, so ±40 is > 4.5 sd; an even split (200) or ignoring weights fails.
    expect(heavy).toBeGreaterThanOrEqual(260);
    expect(heavy).toBeLessThanOrEqual(340);
    expect(light).toBeGreaterThanOrEqual(60);

    const channels = await channelsOf(gw, 'weighted');
    expect(channels.map((c) => [c.id, c.priority, c.weight, c.state])).toEqual([
      ['weighted#0', 0, 3, 'closed'],
      ['weighted#1', 0, 1, 'closed'],
    ]);
    expect(channels[0].requests).toBe(heavy);
    expect(channels[1].requests).toBe(light);
    for (const c of channels) {
      expect(c.error_rate).toBe(0);
      expect(c.latency_ms).toBeGreaterThanOrEqual(0);
    }
  });

  it('sends nothing to a priority-1 channel while priority 0 is healthy, and everything once it is dead', async () => {
    for (let i = 0; i < 30; i++) expect((await send(gw, key, ask('tiered', 'tier healthy'))).status).toBe(200);
    expect(up.count('tier0')).toBe(30);
    expect(up.count('tier1')).toBe(0);

    // Priority 0 dies: the first requests fail there and are retried on priority 1; once its
    // breaker opens it gets nothing at all.
    up.setDefault('tier0', fail(500, 'tier0 is down'));
    for (let i = 0; i < 30; i++) {
      const r = await send(gw, key, ask('tiered', 'tier dead'));
      expect(r.status, r.text).toBe(200);
    }
    expect(up.count('tier1')).toBe(30);
    expect(up.count('tier0')).toBe(30 + THRESHOLD);

    const [p0, p1] = await channelsOf(gw, 'tiered');
    expect(p0).toMatchObject({ id: 'tiered#0', priority: 0, state: 'open', requests: 30 + THRESHOLD });
    expect(p0.error_rate).toBeCloseTo(THRESHOLD / (30 + THRESHOLD), 3);
    expect(p1).toMatchObject({ id: 'tiered#1', priority: 1, state: 'closed', requests: 30, error_rate: 0 });
  });

  it('exports each channel state as tollgate_channel_state (0 closed, 2 open) in /metrics', async () => {
    // Depends on the previous test having opened tiered#0.
    expect((await channelsOf(gw, 'tiered'))[0].state).toBe('open');
    expect(await channelStateMetric(gw, 'tiered#0')).toBe(2);
    expect(await channelStateMetric(gw, 'tiered#1')).toBe(0);
    expect(await channelStateMetric(gw, 'weighted#0')).toBe(0);
  });
});
