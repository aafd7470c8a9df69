// `tollgate check`: the config is valid (already, if we got here), what it leaves unset, where
// the admin token comes from, and whether every provider answers.
import { existsSync } from 'node:fs';
import type { LoadedConfig } from '../config/load.js';
import { createAdapter, createTransport } from '../providers/registry.js';
import { readBody } from '../routing/transport.js';

function adminTokenLine(loaded: LoadedConfig): string {
  const { server } = loaded.config;
  if (server.admin_token) return 'admin token: set (admin routes and the operator console are on)';
  const file = server.admin_token_file;
  if (file) return `admin token: not set; serve uses the one in ${file}${existsSync(file) ? '' : ' (created on the first start)'}`;
  return 'admin token: not set, so admin routes and the operator console are OFF; set server.admin_token ("${TOLLGATE_ADMIN_TOKEN}") or server.admin_token_file';
}

export async function runCheck(loaded: LoadedConfig, print: (line: string) => void): Promise<boolean> {
  const { config, path } = loaded;
  print(`config ${path ?? '(embedded default)'}: valid — ${config.providers.length} provider(s), ${config.models.length} model(s)`);
  for (const w of loaded.warnings) print(`warning: ${w}`);
  print(adminTokenLine(loaded));
  let ok = true;
  for (const [i, p] of config.providers.entries()) {
    // A key that came out empty because its variable is unset would only fail upstream as "bad key": say why instead.
    const unsetKey = loaded.unset.find((u) => u.path[0] === 'providers' && u.path[1] === i && u.path[2] === 'api_key');
    if (unsetKey) {
      ok = false;
      print(`provider ${p.id} (${p.type}): FAILED — api_key comes from ${unsetKey.names.map((n) => `\${${n}}`).join(', ')}, which is not set; export it and run check again`);
      continue;
    }
    const adapter = createAdapter(p);
    const transport = createTransport(p);
    const probe = adapter.probeRequest?.(p);
    if (!probe) {
      print(`provider ${p.id} (${p.type}): no probe available, skipped`);
      await transport.close();
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
