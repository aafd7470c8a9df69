// Credentials that must survive restarts: the admin token kept in a file when the config
// names none, and the demo org's keys kept in plain text so a later start can show them
// again (only hashes are in the store). Both files are created once, mode 0600, and reused.
import { randomBytes } from 'node:crypto';
import { chmodSync, closeSync, existsSync, mkdirSync, openSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import type { Config } from '../config/schema.js';

export type AdminTokenSource = { from: 'config' } | { from: 'file'; file: string; created: boolean } | { from: 'none' };

function ensureDir(file: string): void {
  mkdirSync(dirname(file), { recursive: true });
}

/** Reads a whole secret file, refusing one that is empty (a half-written or truncated file). */
function readSecret(file: string): string {
  const text = readFileSync(file, 'utf8').trim();
  if (!text) throw new Error(`${file} is empty; delete it and start again to create a new admin token, or set TOLLGATE_ADMIN_TOKEN`);
  return text;
}

/**
 * The admin token the server will use: the config's (often ${TOLLGATE_ADMIN_TOKEN}); else
 * the one in server.admin_token_file, created there on the first start. Sets it on `config`.
 */
export function resolveAdminToken(config: Config): AdminTokenSource {
  if (config.server.admin_token) return { from: 'config' };
  const file = config.server.admin_token_file;
  if (!file) return { from: 'none' };
  ensureDir(file);
  let created = false;
  try {
    // 'wx' makes creation exclusive: two first starts on one data directory agree on one token.
    const fd = openSync(file, 'wx', 0o600);
    try {
      writeFileSync(fd, `adm-${randomBytes(24).toString('base64url')}\n`);
    } finally {
      closeSync(fd);
    }
    created = true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  }
  config.server.admin_token = readSecret(file);
  return { from: 'file', file, created };
}

/** A warning when a secret file can be read by other users. */
export function looseModeWarning(file: string): string | undefined {
  try {
    const mode = statSync(file).mode & 0o777;
    if ((mode & 0o077) !== 0) return `${file} can be read by other users (mode ${mode.toString(8)}); run: chmod 600 ${file}`;
  } catch {
    return undefined;
  }
  return undefined;
}

/** What the demo keys file holds. */
export interface DemoKeysFile {
  org: string;
  org_id: string;
  inference_key?: string;
  management_key?: string;
}

export function readDemoKeys(file: string): DemoKeysFile | undefined {
  if (!existsSync(file)) return undefined;
  try {
    const parsed = JSON.parse(readFileSync(file, 'utf8')) as unknown;
    if (!parsed || typeof parsed !== 'object') return undefined;
    const p = parsed as Record<string, unknown>;
    const str = (v: unknown) => (typeof v === 'string' && v ? v : undefined);
    return { org: str(p.org) ?? '', org_id: str(p.org_id) ?? '', inference_key: str(p.inference_key), management_key: str(p.management_key) };
  } catch {
    return undefined;
  }
}

/** Replaces the file in one step (write aside, then rename), so a crash never leaves half a file. */
export function writeDemoKeys(file: string, keys: DemoKeysFile): void {
  ensureDir(file);
  const tmp = `${file}.${process.pid}.tmp`;
  const body = {
    note: 'The demo org\'s keys in plain text, kept so that every start of Tollgate can show them again. Keep this file private; delete it to have new keys made (old ones stay valid until revoked).',
    ...keys,
  };
  writeFileSync(tmp, `${JSON.stringify(body, null, 2)}\n`, { mode: 0o600 });
  chmodSync(tmp, 0o600);
  renameSync(tmp, file);
}
