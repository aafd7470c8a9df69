import { openStore } from '/work/main/src/store/index.js';
import { makeUsage, batchOf, T0, HOUR } from '/work/main/test/store/fixtures.js';
const url = process.argv[2] ?? 'sqlite://:memory:';
const s = await openStore(url, process.argv[3] ? { schema: process.argv[3] } : {});
await s.migrate();
const make = (n: number) => batchOf(Array.from({ length: 500 }, (_, i) => makeUsage('o', `k${i % 4}`, { created_at: T0 + n * HOUR + i * 1000, model: i % 3 ? 'a' : 'b' })));
const times: number[] = [];
for (let n = 0; n < 30; n++) { const b = make(n); const t = performance.now(); await s.writeBatch(b); times.push(performance.now() - t); }
times.sort((a, b) => a - b);
console.log(url, 'median', times[15].toFixed(1), 'min', times[0].toFixed(1));
await s.close();
