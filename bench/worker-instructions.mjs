// Instructions per usage row on the store's path, A against B: a row encoded as the request thread
// encodes it (a spool line, batched into bytes), then decoded and committed to SQLite as the store
// worker does it (linesOf, decodeLines, SqliteBatchWriter), in batches of 400. Each build runs
// under valgrind's callgrind, once with N rows and once with none; the difference over N is the
// figure. Instruction counts do not depend on what else the machine runs: two runs of one build
// agree to about 0.1 %, where CPU time on a shared host moves by tens of per cent. Never run by CI.
//   node bench/worker-instructions.mjs --a DIR --b DIR [--rows 20000]
// Each checkout must have its dist/ built (npx tsc -p tsconfig.json); needs valgrind.
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const BATCH = 400;
const args = process.argv.slice(2);
const option = (name, fallback) => (args.includes(name) ? args[args.indexOf(name) + 1] : fallback);

if (args[0] === '--child') {
  await child(resolve(args[1]), Number(args[2]));
} else {
  execFileSync('valgrind', ['--version'], { stdio: 'ignore' });
  const rows = Number(option('--rows', 20000));
  const builds = { A: resolve(option('--a', '.')), B: resolve(option('--b', '.')) };
  const table = [];
  for (const [name, root] of Object.entries(builds)) {
    const none = instructions(root, 0);
    const all = instructions(root, rows);
    table.push({ build: name, root, 'instructions per row': Math.round((all - none) / rows), 'start-up (no rows)': none });
  }
  console.log(`${rows} rows (usage row and charge), batches of ${BATCH}, encoded, decoded and committed to SQLite as the gateway does it; node ${process.version}, under callgrind`);
  console.table(table);
  console.log(`B/A: ${(table[1]['instructions per row'] / table[0]['instructions per row']).toFixed(4)}`);
}

/** The instructions one run of the child executes, as callgrind counts them. */
function instructions(root, rows) {
  const r = spawnSync('valgrind', ['--tool=callgrind', '--callgrind-out-file=/dev/null', 'node', fileURLToPath(import.meta.url), '--child', join(root, 'dist'), String(rows)], { encoding: 'utf8' });
  const m = /Collected : (\d+)/.exec(r.stderr);
  if (r.status !== 0 || !m) throw new Error(`valgrind run failed (${r.status}): ${r.stderr.slice(-2000)}`);
  return Number(m[1]);
}

/** Rows as a busy gateway writes them: a few orgs, keys and models, request ids from a counter. */
function record(i) {
  const models = ['mock-chat', 'gpt-5.4', 'claude-sonnet-4.5'];
  const request_id = `req_k3v9x2m7${(i + 50_000).toString(36)}`;
  const org_id = `org_${i % 4}`;
  const key_id = `key_${i % 12}`;
  const cost = 4_860 + (i % 997);
  const created_at = 1_764_500_000_000 + i;
  return {
    usage: { request_id, org_id, key_id, model: models[i % 3], requested_model: models[i % 3], provider: 'up', surface: 'chat', cache_read_tokens: 0, cache_write_tokens: 0, reasoning_tokens: 0, prompt_tokens: 120 + (i % 50), completion_tokens: 300 + (i % 70), cost_micros: cost, cached: null, status: 200, error_code: null, latency_ms: 12 + (i % 900), stream: i % 2 === 0, estimated: false, fallback: null, attempts: 1, created_at },
    charge: { id: `chg_${request_id}`, org_id, key_id, kind: 'charge', amount_micros: -cost, note: null, request_id, idempotency_key: null, created_at },
  };
}

async function child(dist, rows) {
  const load = (path) => import(pathToFileURL(join(dist, path)).href);
  const { encodeFinished, decodeLines, linesOf } = await load('billing/spool/rows.js');
  const { SqliteBatchWriter } = await load('store/sqlite-batch-writer.js');
  const { openStore } = await load('store/index.js');
  const dir = mkdtempSync(join(tmpdir(), 'tollgate-worker-instructions-'));
  try {
    const path = join(dir, 'w.db');
    const store = await openStore(`sqlite://${path}`);
    await store.migrate();
    await store.close();
    const writer = new SqliteBatchWriter(path);
    const utf8 = new TextEncoder();
    for (let b = 0; b < rows; b += BATCH) {
      const lines = [];
      for (let i = b; i < Math.min(rows, b + BATCH); i++) lines.push(encodeFinished(record(i)));
      const batch = decodeLines(linesOf(utf8.encode(lines.join('\n'))));
      writer.write({ usage: batch.usage, charges: batch.charges });
    }
    writer.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
