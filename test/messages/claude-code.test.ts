// The real Claude Code CLI (`claude -p`) against Tollgate: once with a Claude model whose
// channel is a fake Anthropic upstream (native lane) and once with the mock model
// (translation lane). The CLI must print the model's answer and exit 0, and the request must
// leave a usage row and a charge.
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { balanceOf, usageOf } from '../helpers/account.js';
import { startTestGateway, type TestGateway } from '../helpers/gateway.js';
import { chatModel } from '../helpers/upstream.js';
import { type FakeAnthropic, startFakeAnthropic } from '../fakes/anthropic-upstream.js';

const CLAUDE = resolve(import.meta.dirname, '../../node_modules/.bin/claude');
const present = existsSync(CLAUDE);
if (!present) console.warn(`Claude Code CLI not found at ${CLAUDE}: the Claude Code tests are skipped (npm ci installs @anthropic-ai/claude-code).`);

/** The mock model's vocabulary (src/providers/mock/model.ts): its answers use no other words. */
const MOCK_SENTENCE = /^[A-Z][a-z]*( [a-z]+)*\.$/;

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `claude -p` without blocking this process: the gateway under test lives in it. */
function runClaude(args: string[], env: Record<string, string>): Promise<Run> {
  const home = mkdtempSync(join(tmpdir(), 'tollgate-claude-home-'));
  return new Promise<Run>((resolvePromise, reject) => {
    const child = spawn(CLAUDE, args, {
      cwd: home,
      env: {
        PATH: process.env.PATH ?? '/usr/bin:/bin',
        HOME: home,
        DISABLE_TELEMETRY: '1',
        DISABLE_ERROR_REPORTING: '1',
        DISABLE_AUTOUPDATER: '1',
        CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: '1',
        ...env,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c));
    child.stderr.on('data', (c: Buffer) => (stderr += c));
    child.on('error', reject);
    child.on('close', (code) => {
      rmSync(home, { recursive: true, force: true });
      resolvePromise({ code, stdout, stderr });
    });
  });
}

describe.skipIf(!present)('Claude Code through Tollgate', () => {
  let fake: FakeAnthropic;
  let gw: TestGateway;
  let mk: string;
  let key: string;

  beforeAll(async () => {
    fake = await startFakeAnthropic();
    gw = await startTestGateway({
      raw: {
        providers: [
          { id: 'mock', type: 'mock' },
          { id: 'anthropic', type: 'anthropic', base_url: fake.url, api_key: 'sk-ant-upstream' },
        ],
        models: [
          chatModel('claude-sonnet-4.5', 'anthropic', 'claude-sonnet-4-5', {
            aliases: ['claude-sonnet-4-5', 'claude-sonnet-4-5-20250929'],
            context_window: 200000,
            max_output_tokens: 64000,
            pricing: { input_per_mtok: 3, output_per_mtok: 15, cache_read_per_mtok: 0.3, cache_write_per_mtok: 3.75 },
          }),
          chatModel('mock-agent', 'mock', 'mock-chat', { context_window: 200000, max_output_tokens: 64000, pricing: { input_per_mtok: 1, output_per_mtok: 2 } }),
        ],
      },
    });
    const org = await gw.createOrg(20);
    mk = org.mk;
    key = (await gw.createKey(mk)).key;
  });

  afterAll(async () => {
    await gw?.close();
    await fake?.close();
  });

  const env = () => ({ ANTHROPIC_BASE_URL: gw.url, ANTHROPIC_API_KEY: key });

  it('native lane: `claude -p` with a Claude model id prints the answer, exits 0, and the request is recorded and charged', async () => {
    const before = await balanceOf(gw.url, key);
    const run = await runClaude(['-p', 'Reply with one word: ready', '--model', 'claude-sonnet-4-5'], env());
    expect(run.code, `${run.stdout}\n${run.stderr}`).toBe(0);
    // The fake Anthropic answers "You said: <the last user text>"; Claude Code adds its own context blocks to that turn.
    expect(run.stdout).toContain('You said:');
    expect(run.stdout).toContain('Reply with one word: ready');

    const sent = fake.requests.filter((r) => r.path === '/v1/messages').at(-1);
    expect(sent?.body).toMatchObject({ model: 'claude-sonnet-4-5', stream: true });
    expect(String(sent?.headers['anthropic-beta'])).toContain('claude-code-20250219');

    const rows = (await usageOf(gw, mk)).filter((r) => r.model === 'claude-sonnet-4.5' && r.status === 200);
    expect(rows.length).toBeGreaterThan(0);
    expect(rows[0].cost_usd).toBeGreaterThan(0);
    expect((await balanceOf(gw.url, key)).balance_usd).toBeLessThan(before.balance_usd);
  }, 120_000);

  it('translation lane: `claude -p` with the mock model prints the mock\'s answer, exits 0, and the request is recorded and charged', async () => {
    const before = await balanceOf(gw.url, key);
    const run = await runClaude(['-p', 'Say something short', '--model', 'mock-agent'], env());
    expect(run.code, `${run.stdout}\n${run.stderr}`).toBe(0);
    expect(run.stdout.trim()).toMatch(MOCK_SENTENCE);

    const rows = (await usageOf(gw, mk)).filter((r) => r.model === 'mock-agent' && r.status === 200);
    expect(rows.length).toBeGreaterThan(0);
    expect(rows[0].cost_usd).toBeGreaterThan(0);
    expect((await balanceOf(gw.url, key)).balance_usd).toBeLessThan(before.balance_usd);
  }, 120_000);
});
