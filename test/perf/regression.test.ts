// The per-request cost check CI runs: bytes the request thread allocates and blocking calls it
// makes per request, over a fixed number of requests, against bench/baseline.json. Counts, not
// times, so a busy machine cannot flip it; latency and throughput belong to bench/run.mjs.
// Refresh the baseline after an intended change with `npm run perf:baseline`.
import { readFileSync, writeFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { type Figures, measure } from './measure.js';

const BASELINE = new URL('../../bench/baseline.json', import.meta.url);

interface Baseline {
  /** Allowed growth of bytes per request, as a factor of the baseline. */
  bytesFactor: number;
  /** Allowed extra blocking calls per request (timers add a few per window on a slow machine). */
  blockingSlack: number;
  scenarios: Record<string, Pick<Figures, 'bytesPerRequest' | 'blockingCallsPerRequest'>>;
}

describe('per-request cost against the stored baseline', () => {
  it('allocates and blocks no more per request than the baseline allows', { timeout: 120_000 }, async () => {
    const { scenarios: measured, loadedUnused, tokenizerLoaded, undiciLoaded } = await measure();
    expect(tokenizerLoaded, 'the tokenizer loaded although every answer carried the upstream\'s usage').toBe(false);
    expect(undiciLoaded, 'undici loaded although the only upstream speaks plain HTTP/1.1').toBe(false);
    expect(loadedUnused, 'packages the configuration does not use, or modules meant to load on first use, loaded at start').toEqual([]);
    if (process.env.PERF_BASELINE === 'write') {
      const previous = JSON.parse(readFileSync(BASELINE, 'utf8')) as Baseline;
      const scenarios = Object.fromEntries(Object.entries(measured).map(([name, m]) => [name, { bytesPerRequest: m.bytesPerRequest, blockingCallsPerRequest: m.blockingCallsPerRequest }]));
      writeFileSync(BASELINE, `${JSON.stringify({ ...previous, scenarios }, null, 2)}\n`);
      return;
    }
    const baseline = JSON.parse(readFileSync(BASELINE, 'utf8')) as Baseline;
    expect(Object.keys(measured).sort()).toEqual(Object.keys(baseline.scenarios).sort());
    const report: string[] = [];
    for (const [name, m] of Object.entries(measured)) {
      const b = baseline.scenarios[name];
      report.push(
        `${name}: ${m.bytesPerRequest} B/request (baseline ${b.bytesPerRequest}), ${m.blockingCallsPerRequest} blocking calls/request (baseline ${b.blockingCallsPerRequest}); for reading only: ${m.info.activeUsPerRequest} µs event-loop busy, ${m.info.cpuUsPerRequest} µs CPU per request`,
      );
    }
    console.log(report.join('\n'));
    for (const [name, m] of Object.entries(measured)) {
      const b = baseline.scenarios[name];
      expect(m.bytesPerRequest, `${name}: bytes allocated per request`).toBeLessThanOrEqual(Math.round(b.bytesPerRequest * baseline.bytesFactor));
      expect(m.blockingCallsPerRequest, `${name}: blocking calls per request`).toBeLessThanOrEqual(b.blockingCallsPerRequest + baseline.blockingSlack);
    }
  });
});
