// Owns the `tollgate` command line: serve, init, check, org/key administration, mock-upstream.
// Must not duplicate server logic: commands build the same gateway (or store) the server uses and call its services.
import { existsSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { Command } from 'commander';
import { ConfigError, type Env, loadConfig } from '../config/load.js';
import { STARTER_CONFIG } from '../config/starter.js';
import { nearestName } from '../config/suggest.js';
import { registerAdminCommands } from './admin-commands.js';
import { port, rate } from './args.js';

// The gateway, the providers and the mock are imported only by the commands that run them,
// so --help, --version and argument errors answer at once.
const env = process.env as Env;
const out = (text: string) => process.stdout.write(text);
const version = (createRequire(import.meta.url)('../../package.json') as { version: string }).version;

function fail(err: unknown): never {
  if (err instanceof ConfigError) process.stderr.write(`tollgate: ${err.message}\n`);
  else process.stderr.write(`tollgate: ${(err as Error).message ?? String(err)}\n`);
  process.exit(1);
}

async function run(fn: () => Promise<void>): Promise<void> {
  try {
    await fn();
  } catch (err) {
    fail(err);
  }
}

const program = new Command();
program
  .name('tollgate')
  .description('Tollgate: a self-hosted LLM API gateway')
  .version(version, '-V, --version', 'print the version')
  .helpOption('-h, --help', 'show help for a command')
  .showHelpAfterError();

program
  .command('serve', { isDefault: true })
  .description('run the gateway (the default command)')
  .option('--config <file>', 'config file (default: $TOLLGATE_CONFIG, ./tollgate.yaml, else the embedded default)')
  .option('--host <host>', 'listen address (overrides the config)')
  .option('--port <port>', 'listen port (overrides the config and $PORT)', port)
  // serve is the default command, so a mistyped command reaches it as an argument: say that it
  // is an unknown command (and what was meant) instead of "too many arguments for 'serve'".
  .allowExcessArguments()
  .action((o: { config?: string; host?: string; port?: number }, cmd: Command) =>
    run(async () => {
      if (cmd.args.length > 0) {
        if (program.args[0] === 'serve' || cmd.args[0] === 'serve') cmd.error(`error: serve takes no arguments, got '${cmd.args.join(' ')}'`);
        const near = nearestName(cmd.args[0], program.commands.map((c) => c.name()));
        program.error(`error: unknown command '${cmd.args[0]}'${near ? ` (did you mean ${near}?)` : ''}`);
      }
      const { serve } = await import('./serve.js');
      const { exitOnSignals } = await import('../main.js');
      const running = await serve(o, env, out, (line) => process.stderr.write(`tollgate: ${line}\n`));
      exitOnSignals(running, running.gateway.config.server.shutdown_grace_s);
    }),
  );

program
  .command('init')
  .description('write a commented starter config (tollgate.yaml) to edit')
  .option('--config <file>', 'where to write it', 'tollgate.yaml')
  .option('--force', 'overwrite an existing file')
  .action((o: { config: string; force?: boolean }) => {
    if (existsSync(o.config) && !o.force) fail(new Error(`${o.config} already exists (use --force to overwrite)`));
    writeFileSync(o.config, STARTER_CONFIG, { mode: 0o600 });
    const flag = o.config === 'tollgate.yaml' ? '' : ` --config ${o.config}`;
    out(
      [
        `Wrote ${o.config}.`,
        `Check it with:  npx tollgate check${flag}`,
        `Start it with:  npx tollgate serve${flag}${flag ? '' : '   (or npm start: ./tollgate.yaml is used when present)'}`,
        'The first start creates a demo org with a demo inference key and management key, and an admin token',
        'in ./data/admin-token unless TOLLGATE_ADMIN_TOKEN is set; later starts reuse them.',
        '',
      ].join('\n'),
    );
  });

program
  .command('check')
  .description('validate the config, say where the admin token comes from, and reach each provider')
  .option('--config <file>', 'config file')
  .action((o: { config?: string }) =>
    run(async () => {
      const { runCheck } = await import('./check.js');
      const ok = await runCheck(loadConfig({ path: o.config, env }), (line) => out(`${line}\n`));
      process.exit(ok ? 0 : 1);
    }),
  );

program
  .command('models')
  .description('list the built-in model catalogue, marking the models the config serves')
  .option('--config <file>', 'config file (default: $TOLLGATE_CONFIG, ./tollgate.yaml, else the embedded default)')
  .option('--vendor <id>', 'only this vendor\'s models (openai, anthropic, gemini, deepseek, zhipu, mistral, groq, openrouter)')
  .option('--json', 'print the catalogue entries as JSON')
  .action((o: { config?: string; vendor?: string; json?: boolean }) =>
    run(async () => {
      const { CATALOGUE } = await import('../catalogue/index.js');
      if (o.vendor && !CATALOGUE.vendors.some((v) => v.id === o.vendor)) {
        throw new Error(`unknown vendor "${o.vendor}" (the catalogue has ${CATALOGUE.vendors.map((v) => v.id).join(', ')})`);
      }
      const config = loadConfig({ path: o.config, env }).config;
      const { catalogueLines, servedMarks } = await import('./models.js');
      if (o.json) {
        const marks = servedMarks(config);
        const models = CATALOGUE.models.filter((m) => !o.vendor || m.vendor === o.vendor).map((m) => ({ ...m, served: marks.get(m.id) === '*' ? 'configured' : marks.get(m.id) === '~' ? 'wildcard' : null }));
        out(`${JSON.stringify({ vendors: CATALOGUE.vendors, models }, null, 2)}\n`);
        return;
      }
      out(`${catalogueLines(config, { vendor: o.vendor }).join('\n')}\n`);
    }),
  );

registerAdminCommands(program, env, out, run);

program
  .command('mock-upstream')
  .description('run the mock model as a standalone OpenAI-compatible server')
  .option('--host <host>', 'listen address', '127.0.0.1')
  .option('--port <port>', 'listen port', port, 9090)
  .option('--tps <n>', 'stream tokens per second (0 = unthrottled)', rate, 0)
  .option('--api-key <key>', 'require this bearer key')
  .action(async (o: { host: string; port: number; tps: number; apiKey?: string }) => {
    const { startMockUpstream } = await import('../providers/mock/http-server.js');
    const s = await startMockUpstream({ host: o.host, port: o.port, settings: { tokensPerSecond: o.tps, faults: undefined, apiKey: o.apiKey, memo: new Map() } });
    out(`Mock upstream (OpenAI-compatible, labelled mock) listening on ${s.url}\n`);
    const stop = () => s.close().then(() => process.exit(0));
    process.on('SIGTERM', stop);
    process.on('SIGINT', stop);
  });

program.parseAsync(process.argv).catch(fail);
