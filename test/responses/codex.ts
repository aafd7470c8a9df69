// Runs the real Codex CLI (`codex exec`) against a gateway: a fresh CODEX_HOME whose
// config.toml names Tollgate as a Responses provider (as docs/clients/codex.md shows), the key in
// the environment variable the provider block names, a temp working directory.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const CODEX = fileURLToPath(new URL('../../node_modules/.bin/codex', import.meta.url));
const RUN_LIMIT_MS = 90_000;

export interface CodexRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

export function codexConfig(baseUrl: string, model: string): string {
  return [
    `model = "${model}"`,
    'model_provider = "tollgate"',
    // Built-in web search runs only at a Responses upstream; Chat-served models refuse it.
    'web_search = "disabled"',
    '',
    '[model_providers.tollgate]',
    'name = "Tollgate"',
    `base_url = "${baseUrl}/v1"`,
    'env_key = "TOLLGATE_API_KEY"',
    'wire_api = "responses"',
    '',
  ].join('\n');
}

export async function runCodex(opts: { gatewayUrl: string; key: string; model: string; prompt: string }): Promise<CodexRun> {
  const home = mkdtempSync(join(tmpdir(), 'tollgate-codex-home-'));
  const work = mkdtempSync(join(tmpdir(), 'tollgate-codex-work-'));
  writeFileSync(join(home, 'config.toml'), codexConfig(opts.gatewayUrl, opts.model));
  try {
    return await new Promise<CodexRun>((resolve, reject) => {
      const child = spawn(CODEX, ['exec', '--skip-git-repo-check', '--sandbox', 'danger-full-access', opts.prompt], {
        cwd: work,
        env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: home, CODEX_HOME: home, TOLLGATE_API_KEY: opts.key, NO_COLOR: '1' },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
      child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
      // A bound on a child process, not a timing assertion: a hung CLI must not hang the suite.
      const limit = setTimeout(() => child.kill('SIGKILL'), RUN_LIMIT_MS);
      child.on('error', (err) => {
        clearTimeout(limit);
        reject(err);
      });
      child.on('close', (code) => {
        clearTimeout(limit);
        resolve({ code, stdout, stderr });
      });
    });
  } finally {
    rmSync(home, { recursive: true, force: true });
    rmSync(work, { recursive: true, force: true });
  }
}
