import { openStore } from '/work/main/src/store/index.js';
import pg from 'pg';
const url = 'postgres://postgres@127.0.0.1:5432/test';
const s = await openStore(url, { schema: 'tgbench2' }); await s.migrate(); await s.close();
const pool = new pg.Pool({ connectionString: url, options: '-c search_path=tgbench2' });
const c = await pool.connect();
const cols = 18;
for (let round = 0; round < 5; round++) {
  const vals: unknown[] = []; const tuples: string[] = [];
  for (let i = 0; i < 500; i++) {
    const base = i * cols; tuples.push('(' + Array.from({ length: cols }, (_, j) => '$' + (base + j + 1)).join(',') + ')');
    vals.push(`r${round}_${i}`, 'o', 'k', 'm', 'm', 'p', 1, 2, 3, null, 200, null, 5, false, false, null, 1, 1700000000000 + i);
  }
  const text = `insert into usage values ${tuples.join(',')} on conflict (request_id) do nothing returning request_id`;
  await c.query('begin');
  let t = performance.now();
  await c.query(text, vals);
  const t1 = performance.now() - t;
  await c.query('rollback');
  await c.query('begin');
  t = performance.now();
  await c.query({ name: 'ins500', text, values: vals });
  const t2 = performance.now() - t;
  await c.query('rollback');
  console.log('unnamed', t1.toFixed(1), 'named', t2.toFixed(1));
}
c.release(); await pool.query('drop schema tgbench2 cascade'); await pool.end();
