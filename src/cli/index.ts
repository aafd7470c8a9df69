// Owns the `tollgate` command line: serve, init, check, org/key administration, mock-upstream.
// Must not duplicate server logic: commands build the same gateway (or store) the server uses and call its services.
import { randomBytes } from 'node:crypto';
import { existsSync, writeFileSync } from 'node:fs';
import { Command, InvalidArgumentError } from 'commander';
import { usdToMicros } from '../billing/money.js';
import { ConfigError, type Env, loadConfig } from '../config/load.js';
import { STARTER_CONFIG } from '../config/starter.js';
import { exitOnSignals, startGateway } from '../main.js';
import { startMockUpstream } from '../providers/mock/http-server.js';
import { runCheck } from './check.js';
import { ensureDemoTenant } from './demo.js';
import { withAdminGateway } from './offline.js';

const env = process.env as Env;

function positiveNumber(v: string): number {
  const n = Number(v);
  if (!Number.isFinite(n) || n < 0) throw new InvalidArgumentError('expected a non-negative number');
  return n;
}
function port(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new InvalidArgumentError('expected a port number from 0 to 65535');
  return n;
}

function fail(err: unknown): never {
  if (err instanceof ConfigError) process.stderr.write(`tollgate: ${err.message}\n`);
  else process.stderr.write(`tollgate: ${(err as Error).message ?? String(err)}\n`);
  process.exit(1);
}

const program = new Command();
program.name('tollgate').description('Tollgate: a self-hosted LLM API gateway').showHelpAfterError();

program
  .command('serve', { isDefault: true })
  .description('run the gateway')
  .option('--config <file>', 'config file (default: $TOLLGATE_CONFIG, ./tollgate.yaml, else the embedded default)')
  .option('--host <host>', 'listen address (overrides the config)')
  .option('--port <port>', 'listen port (overrides the config)', port)
  .action(async (o: { config?: string; host?: string; port?: number }) => {
    try {
      const { config, path } = loadConfig({ path: o.config, env });
      if (o.host) config.server.host = o.host;
      if (o.port !== undefined) config.server.port = o.port;
      if (o.port === undefined && env.PORT && /^\d+$/.test(env.PORT)) config.server.port = Number(env.PORT);
      let generatedAdmin: string | undefined;
      if (!config.server.admin_token && !path) {
        generatedAdmin = `adm-${randomBytes(18).toString('base64url')}`;
        config.server.admin_token = generatedAdmin;
      }
      const running = await startGateway({ config });
      const lines = [`Tollgate listening on ${running.url} (config: ${path ?? 'embedded default'}, storage: ${config.storage.url})`];
      if (config.demo.enabled) {
        const demo = await ensureDemoTenant(running.gateway, config.demo.credits_usd);
        const model = config.models.find((m) => m.kind === 'chat')?.id ?? 'mock-chat';
        lines.push(
          '',
          `Demo org "demo"${demo.created ? ` created with $${config.demo.credits_usd} credit` : ''}. Demo inference key (shown once):`,
          `  ${demo.key}`,
          '',
          'Try it:',
          `  curl ${running.url}/v1/chat/completions -H "Authorization: Bearer ${demo.key}" -H "Content-Type: application/json" -d '{"model":"${model}","messages":[{"role":"user","content":"Hello!"}]}'`,
        );
      }
      if (generatedAdmin) lines.push('', `Admin token for this run (console at ${running.url}/console):`, `  ${generatedAdmin}`);
      process.stdout.write(`${lines.join('\n')}\n`);
      exitOnSignals(running, config.server.shutdown_grace_s);
    } catch (err) {
      fail(err);
    }
  });

program
  .command('init')
  .description('write a commented starter config')
  .option('--config <file>', 'where to write it', 'tollgate.yaml')
  .option('--force', 'overwrite an existing file')
  .action((o: { config: string; force?: boolean }) => {
    if (existsSync(o.config) && !o.force) fail(new Error(`${o.config} already exists (use --force to overwrite)`));
    writeFileSync(o.config, STARTER_CONFIG, { mode: 0o600 });
    process.stdout.write(`Wrote ${o.config}. Start with: npx tollgate serve --config ${o.config}\n`);
  });

program
  .command('check')
  .description('validate the config and reach each provider')
  .option('--config <file>', 'config file')
  .action(async (o: { config?: string }) => {
    try {
      const ok = await runCheck(loadConfig({ path: o.config, env }), (line) => process.stdout.write(`${line}\n`));
      process.exit(ok ? 0 : 1);
    } catch (err) {
      fail(err);
    }
  });

const org = program.command('org').description('manage organisations (writes to the configured storage)');
org
  .command('create <name>')
  .option('--credits <usd>', 'initial credit in USD', positiveNumber)
  .option('--config <file>', 'config file')
  .action(async (name: string, o: { credits?: number; config?: string }) => {
    try {
      await withAdminGateway(o.config, env, async (gw) => {
        const r = await gw.tenants.createOrg({ name, creditsMicros: o.credits ? usdToMicros(o.credits) : undefined });
        process.stdout.write(`Created org "${name}" (${r.org.id}) with $${o.credits ?? 0} credit.\nManagement key (shown once):\n  ${r.managementKey}\n`);
      });
    } catch (err) {
      fail(err);
    }
  });
org
  .command('credit <name> <usd>')
  .option('--note <text>', 'ledger note')
  .option('--idempotency-key <key>', 'apply once even if repeated')
  .option('--config <file>', 'config file')
  .action(async (name: string, usd: string, o: { note?: string; idempotencyKey?: string; config?: string }) => {
    try {
      const amount = positiveNumber(usd);
      await withAdminGateway(o.config, env, async (gw) => {
        const target = gw.view.orgByName(name);
        if (!target) throw new Error(`no org named "${name}"`);
        const r = await gw.tenants.grantCredit(target.id, usdToMicros(amount), o.note ?? 'cli grant', o.idempotencyKey ?? null);
        process.stdout.write(`${r.applied ? 'Granted' : 'Already granted'} $${amount} to "${name}". Balance: $${((await gw.accounts.snapshot(target.id)).balance / 1e6).toFixed(6)}\n`);
      });
    } catch (err) {
      fail(err);
    }
  });

program
  .command('key')
  .description('manage keys')
  .command('create')
  .requiredOption('--org <name>', 'organisation name')
  .option('--name <name>', 'key name')
  .option('--budget <usd>', 'budget cap in USD', positiveNumber)
  .option('--rpm <n>', 'requests per minute', positiveNumber)
  .option('--tpm <n>', 'tokens per minute', positiveNumber)
  .option('--management', 'create a management key (mk-tg-) instead of an inference key')
  .option('--config <file>', 'config file')
  .action(async (o: { org: string; name?: string; budget?: number; rpm?: number; tpm?: number; management?: boolean; config?: string }) => {
    try {
      await withAdminGateway(o.config, env, async (gw) => {
        const target = gw.view.orgByName(o.org);
        if (!target) throw new Error(`no org named "${o.org}"`);
        const r = await gw.tenants.createKey(target.id, o.management ? 'mk' : 'sk', {
          name: o.name ?? null,
          budget_micros: o.budget === undefined ? null : usdToMicros(o.budget),
          rpm: o.rpm ? Math.floor(o.rpm) : null,
          tpm: o.tpm ? Math.floor(o.tpm) : null,
        });
        process.stdout.write(`Created ${o.management ? 'management' : 'inference'} key ${r.row.id} for "${o.org}" (shown once):\n  ${r.key}\n`);
      });
    } catch (err) {
      fail(err);
    }
  });

program
  .command('mock-upstream')
  .description('run the mock model as a standalone OpenAI-compatible server')
  .option('--host <host>', 'listen address', '127.0.0.1')
  .option('--port <port>', 'listen port', port, 9090)
  .option('--tps <n>', 'stream tokens per second (0 = unthrottled)', positiveNumber, 0)
  .option('--api-key <key>', 'require this bearer key')
  .action(async (o: { host: string; port: number; tps: number; apiKey?: string }) => {
    const s = await startMockUpstream({ host: o.host, port: o.port, settings: { tokensPerSecond: o.tps, faults: undefined, apiKey: o.apiKey, memo: new Map() } });
    process.stdout.write(`Mock upstream (OpenAI-compatible, labelled mock) listening on ${s.url}\n`);
    const stop = () => s.close().then(() => process.exit(0));
    process.on('SIGTERM', stop);
    process.on('SIGINT', stop);
  });

program.parseAsync(process.argv).catch(fail);
