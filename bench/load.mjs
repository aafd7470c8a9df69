// A small closed-loop load generator: N connections, each sending the next request when the
// previous one has ended; reports throughput and latency percentiles (and first-byte latency).
import { Pool } from 'undici';

// `headers` (optional) are sent with every request, after the defaults (so they may override them).
export async function runLoad({ url, key, body, connections, durationMs, stream = false, headers: extraHeaders = {} }) {
  const u = new URL(url);
  const pool = new Pool(u.origin, { connections, pipelining: 1, keepAliveTimeout: 30_000 });
  const payload = JSON.stringify(body);
  const headers = { 'content-type': 'application/json', authorization: `Bearer ${key}`, ...extraHeaders };
  const latencies = [];
  const firstBytes = [];
  let errors = 0;
  const end = Date.now() + durationMs;
  const worker = async () => {
    while (Date.now() < end) {
      const t0 = process.hrtime.bigint();
      try {
        const res = await pool.request({ path: u.pathname, method: 'POST', headers, body: payload });
        let first = 0n;
        for await (const _c of res.body) if (first === 0n) first = process.hrtime.bigint();
        const t1 = process.hrtime.bigint();
        if (res.statusCode !== 200) errors++;
        else {
          latencies.push(Number(t1 - t0) / 1e6);
          if (stream) firstBytes.push(Number(first - t0) / 1e6);
        }
      } catch {
        errors++;
      }
    }
  };
  const started = Date.now();
  await Promise.all(Array.from({ length: connections }, worker));
  const elapsed = (Date.now() - started) / 1000;
  await pool.close();
  const pct = (arr, p) => {
    if (arr.length === 0) return Number.NaN;
    const s = [...arr].sort((a, b) => a - b);
    return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
  };
  return { rps: latencies.length / elapsed, ok: latencies.length, errors, p50: pct(latencies, 50), p90: pct(latencies, 90), p99: pct(latencies, 99), ttfb50: pct(firstBytes, 50) };
}
