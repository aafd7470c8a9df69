import { openStore } from '/work/main/src/store/index.js';
import pg from 'pg';
const url = 'postgres://postgres@127.0.0.1:5432/test';
const s = await openStore(url, { schema: 'tgbench3' }); await s.migrate(); await s.close();
const pool = new pg.Pool({ connectionString: url, options: '-c search_path=tgbench3' });
const c = await pool.connect();
const types = ['text','text','text','text','text','text','int8','int8','int8','text','int4','text','int8','bool','bool','text','int4','int8'];
const text = `insert into usage select * from unnest(${types.map((t, i) => `$${i + 1}::${t}[]`).join(',')}) on conflict (request_id) do nothing returning request_id`;
for (let round = 0; round < 6; round++) {
  const arrays: unknown[][] = types.map(() => []);
  for (let i = 0; i < 500; i++) {
    const row = [`r${round}_${i}`, 'o', 'k', 'm', 'm', 'p', 1, 2, 3, null, 200, null, 5, false, false, null, 1, 1700000000000 + i];
    row.forEach((v, j) => arrays[j].push(v));
  }
  await c.query('begin');
  let t = performance.now();
  const r = await c.query(text, arrays);
  const t1 = performance.now() - t;
  await c.query('rollback');
  await c.query('begin');
  t = performance.now();
  await c.query({ name: 'unnest', text, values: arrays });
  const t2 = performance.now() - t;
  await c.query('rollback');
  console.log('unnest unnamed', t1.toFixed(1), 'named', t2.toFixed(1), r.rowCount);
}
c.release(); await pool.query('drop schema tgbench3 cascade'); await pool.end();
