import { Kysely, SqliteDialect, PostgresDialect } from 'kysely';
import BetterSqlite3 from 'better-sqlite3';
import { usageToDb, ledgerToDb } from '/work/main/src/store/row-mappers.js';
import { makeUsage, chargeFor, T0 } from '/work/main/test/store/fixtures.js';
import type { Database } from '/work/main/src/store/schema.js';
const db = new Kysely<Database>({ dialect: new SqliteDialect({ database: new BetterSqlite3(':memory:') }) });
const rows = Array.from({ length: 500 }, (_, i) => makeUsage('o', 'k', { created_at: T0 + i }));
for (let r = 0; r < 3; r++) {
  let t = performance.now();
  for (let i = 0; i < 20; i++) db.insertInto('usage').values(rows.map(u => usageToDb('sqlite', u))).onConflict(oc => oc.column('request_id').doNothing()).returning('request_id').compile();
  console.log('usage compile ms/op', ((performance.now() - t) / 20).toFixed(2));
  t = performance.now();
  for (let i = 0; i < 20; i++) db.insertInto('ledger').values(rows.map(u => ledgerToDb(chargeFor(u)))).onConflict(oc => oc.doNothing()).compile();
  console.log('ledger compile ms/op', ((performance.now() - t) / 20).toFixed(2));
}
const raw = new BetterSqlite3(':memory:');
raw.exec('create table usage (request_id text primary key, org_id text, key_id text, model text, requested_model text, provider text, prompt_tokens int, completion_tokens int, cost_micros int, cached text, status int, error_code text, latency_ms int, stream int, estimated int, fallback text, attempts int, created_at int)');
const c = db.insertInto('usage').values(rows.map(u => usageToDb('sqlite', u))).onConflict(oc => oc.column('request_id').doNothing()).returning('request_id').compile();
let t = performance.now(); const st = raw.prepare(c.sql); console.log('prepare', (performance.now()-t).toFixed(2));
t = performance.now(); st.all(c.parameters as unknown[]); console.log('run', (performance.now()-t).toFixed(2));
