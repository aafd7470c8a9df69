// `tollgate check`: the config is valid (already, if we got here) and every provider answers.
import type { LoadedConfig } from '../config/load.js';
import { createAdapter, createTransport } from '../providers/registry.js';
import { readBody } from '../routing/transport.js';

export async function runCheck(loaded: LoadedConfig, print: (line: string) => void): Promise<boolean> {
  const { config, path } = loaded;
  print(`config ${path ?? '(embedded default)'}: valid — ${config.providers.length} provider(s), ${config.models.length} model(s)`);
  let ok = true;
  for (const p of config.providers) {
    const adapter = createAdapter(p);
    const transport = createTransport(p);
    const probe = adapter.probeRequest?.(p);
    if (!probe) {
      print(`provider ${p.id} (${p.type}): no probe available, skipped`);
      continue;
    }
    const started = Date.now();
    try {
      const res = await transport.send(probe, AbortSignal.timeout(Math.min(p.timeouts.first_byte_ms, 15000)));
      const body = await readBody(res, 4 * 1024 * 1024, p.id);
      if (res.status >= 200 && res.status < 300) print(`provider ${p.id} (${p.type}): reachable, HTTP ${res.status} in ${Date.now() - started} ms`);
      else {
        ok = false;
        print(`provider ${p.id} (${p.type}): FAILED — ${adapter.mapError(res.status, body, res.headers).message}`);
      }
    } catch (err) {
      ok = false;
      print(`provider ${p.id} (${p.type}): FAILED — ${(err as Error).message}`);
    } finally {
      await transport.close();
    }
  }
  return ok;
}
