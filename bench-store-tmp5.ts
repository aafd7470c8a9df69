import { openStore } from '/work/main/src/store/index.js';
import { makeUsage, batchOf, T0, HOUR } from '/work/main/test/store/fixtures.js';
const url = process.argv[2]!;
const s = await openStore(url, process.argv[3] ? { schema: process.argv[3] } : {});
await s.migrate();
const make = (n: number) => batchOf(Array.from({ length: 500 }, (_, i) => makeUsage('o', `k${i % 4}`, { created_at: T0 + n * HOUR + i * 1000, model: i % 3 ? 'a' : 'b' })));
const times: Record<string, number[]> = { unnest: [], values: [] };
for (let n = 0; n < 40; n++) {
  const mode = n % 2 ? 'values' : 'unnest';
  if (mode === 'values') process.env.BULK_VALUES = '1'; else delete process.env.BULK_VALUES;
  const b = make(n); const t = performance.now(); await s.writeBatch(b); times[mode]!.push(performance.now() - t);
}
for (const [k, v] of Object.entries(times)) { v.sort((a, b) => a - b); console.log(k, 'median', v[10]!.toFixed(1), 'min', v[0]!.toFixed(1), 'p25', v[5]!.toFixed(1)); }
await s.close();
