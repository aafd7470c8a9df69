// `tollgate org …` and `tollgate key …`: the operator's administration, run directly against
// the configured storage through the same tenant service the server uses.
import type { AuditSource } from '../audit/index.js';
import { keySnapshot, orgSnapshot } from '../http/present.js';
import type { Command } from 'commander';
import { formatUsd, usdToMicros } from '../billing/money.js';
import type { Env } from '../config/load.js';
import type { Gateway } from '../gateway.js';
import type { KeyRow, OrgRow } from '../store/types.js';
import { orgName, perMinute, positiveUsd, seconds, usdAmount } from './args.js';

type Out = (text: string) => void;

/** Loads the gateway only when a command needs it (help and argument errors stay instant). */
async function withAdminGateway(configPath: string | undefined, env: Env, fn: (gw: Gateway) => Promise<void>): Promise<void> {
  const offline = await import('./offline.js');
  await offline.withAdminGateway(configPath, env, fn);
}

/** An org by name, or by its `org_…` id. */
function findOrg(gw: Gateway, ref: string): OrgRow {
  const org = gw.view.orgByName(ref) ?? gw.view.org(ref);
  if (!org) {
    const names = gw.view.allOrgs().map((o) => o.name);
    throw new Error(`no org named "${ref}"${names.length > 0 ? ` (orgs: ${names.slice(0, 10).join(', ')}${names.length > 10 ? ', …' : ''})` : ''}; list them with: tollgate org list`);
  }
  return org;
}

function findKey(gw: Gateway, id: string): KeyRow {
  const key = gw.view.key(id);
  if (!key) throw new Error(`no key with id "${id}"; list an org's keys with: tollgate key list --org NAME`);
  return key;
}

const iso = (ms: number | null) => (ms === null ? '-' : new Date(ms).toISOString());

function keyStatus(k: KeyRow, now = Date.now()): string {
  if (k.revoked_at !== null) return 'revoked';
  if (k.expires_at !== null && k.expires_at <= now) return 'expired';
  return k.disabled ? 'disabled' : 'active';
}

function table(rows: string[][]): string {
  const widths = rows[0].map((_, c) => Math.max(...rows.map((r) => r[c].length)));
  return rows.map((r) => r.map((cell, c) => cell.padEnd(widths[c])).join('  ').trimEnd()).join('\n');
}

/** Changes made with the tollgate command on the server are recorded with this actor. */
const CLI: AuditSource = { actor: 'cli', ip: null };

export function registerAdminCommands(program: Command, env: Env, out: Out, run: (fn: () => Promise<void>) => Promise<void>): void {
  const org = program.command('org').description('manage organisations (writes to the configured storage; a running gateway sees changes on its next refresh)');

  org
    .command('create <name>')
    .description('create an organisation and print its first management key (shown once)')
    .option('--credits <usd>', 'initial credit in USD', usdAmount)
    .option('--config <file>', 'config file')
    .action((given: string, o: { credits?: number; config?: string }) =>
      run(async () => {
        const name = orgName(given);
        await withAdminGateway(o.config, env, async (gw) => {
          const r = await gw.tenants.createOrg({ name, creditsMicros: o.credits ? usdToMicros(o.credits) : undefined });
          const mk = gw.view.keysOf(r.org.id).find((k) => k.kind === 'mk');
          await gw.audit.record(CLI, { orgId: r.org.id, action: 'org.create', target: r.org.id, after: { ...orgSnapshot(r.org), management_key_prefix: mk?.prefix ?? null } });
          if (o.credits) await gw.audit.record(CLI, { orgId: r.org.id, action: 'credit.grant', target: r.org.id, after: { amount_usd: o.credits, note: 'initial credit' } });
          out(`Created org "${name}" (${r.org.id}) with ${formatUsd(usdToMicros(o.credits ?? 0))} credit.\nManagement key (shown once):\n  ${r.managementKey}\n`);
        });
      }),
    );

  org
    .command('list')
    .description('list organisations with their id, balance and state')
    .option('--config <file>', 'config file')
    .action((o: { config?: string }) =>
      run(() =>
        withAdminGateway(o.config, env, async (gw) => {
          const orgs = gw.view.allOrgs().sort((a, b) => a.created_at - b.created_at);
          if (orgs.length === 0) {
            out('No organisations yet. Create one with: tollgate org create NAME --credits 10\n');
            return;
          }
          const rows = [['NAME', 'ID', 'BALANCE', 'KEYS', 'STATE', 'CREATED']];
          for (const o2 of orgs) {
            const snap = await gw.accounts.snapshot(o2.id);
            const active = gw.view.keysOf(o2.id).filter((k) => keyStatus(k) === 'active').length;
            rows.push([o2.name, o2.id, formatUsd(snap.balance), String(active), o2.disabled ? 'disabled' : 'active', iso(o2.created_at)]);
          }
          out(`${table(rows)}\n`);
        }),
      ),
    );

  org
    .command('credit <name> <usd>')
    .description('add credit to an organisation (by name or org_… id)')
    .option('--note <text>', 'ledger note')
    .option('--idempotency-key <key>', 'apply once even if repeated')
    .option('--config <file>', 'config file')
    .action((name: string, usd: string, o: { note?: string; idempotencyKey?: string; config?: string }) =>
      run(async () => {
        const amount = positiveUsd(usd);
        await withAdminGateway(o.config, env, async (gw) => {
          const target = findOrg(gw, name);
          const r = await gw.tenants.grantCredit(target.id, usdToMicros(amount), o.note ?? 'cli grant', o.idempotencyKey ?? null);
          if (r.applied) {
            await gw.audit.record(CLI, {
              orgId: target.id,
              action: 'credit.grant',
              target: target.id,
              after: { amount_usd: amount, note: o.note ?? 'cli grant', ledger_entry_id: r.entry.id, idempotency_key: o.idempotencyKey ?? null },
            });
          }
          out(`${r.applied ? 'Granted' : 'Already granted'} $${amount} to "${target.name}". Balance: $${((await gw.accounts.snapshot(target.id)).balance / 1e6).toFixed(6)}\n`);
        });
      }),
    );

  const key = program.command('key').description('manage inference (sk-tg-) and management (mk-tg-) keys');

  key
    .command('create')
    .description('create a key for an organisation and print it (shown once)')
    .requiredOption('--org <name>', 'organisation name or org_… id')
    .option('--name <name>', 'key name')
    .option('--management', 'create a management key (mk-tg-, for /api/* and the console) instead of an inference key')
    .option('--budget <usd>', 'budget cap in USD (inference keys)', usdAmount)
    .option('--rpm <n>', 'requests per minute, a whole number ≥ 1 (inference keys)', perMinute)
    .option('--tpm <n>', 'tokens per minute, a whole number ≥ 1 (inference keys)', perMinute)
    .option('--config <file>', 'config file')
    .action((o: { org: string; name?: string; budget?: number; rpm?: number; tpm?: number; management?: boolean; config?: string }) =>
      run(async () => {
        if (o.management && (o.budget !== undefined || o.rpm !== undefined || o.tpm !== undefined)) {
          throw new Error('--budget, --rpm and --tpm apply to inference keys; a management key has none');
        }
        await withAdminGateway(o.config, env, async (gw) => {
          const target = findOrg(gw, o.org);
          const r = await gw.tenants.createKey(target.id, o.management ? 'mk' : 'sk', {
            name: o.name ?? null,
            budget_micros: o.budget === undefined ? null : usdToMicros(o.budget),
            rpm: o.rpm ?? null,
            tpm: o.tpm ?? null,
          });
          await gw.audit.record(CLI, { orgId: target.id, action: r.row.kind === 'mk' ? 'management_key.mint' : 'key.create', target: r.row.id, after: keySnapshot(r.row) });
          out(`Created ${o.management ? 'management' : 'inference'} key ${r.row.id} for "${target.name}" (shown once):\n  ${r.key}\n`);
        });
      }),
    );

  key
    .command('list')
    .description("list an organisation's keys (prefix only; keys are never shown again)")
    .requiredOption('--org <name>', 'organisation name or org_… id')
    .option('--all', 'include revoked and expired keys')
    .option('--config <file>', 'config file')
    .action((o: { org: string; all?: boolean; config?: string }) =>
      run(() =>
        withAdminGateway(o.config, env, async (gw) => {
          const target = findOrg(gw, o.org);
          const keys = gw.view
            .keysOf(target.id)
            .filter((k) => o.all || ['active', 'disabled'].includes(keyStatus(k)))
            .sort((a, b) => a.created_at - b.created_at);
          if (keys.length === 0) {
            out(`No keys for "${target.name}". Create one with: tollgate key create --org ${target.name}\n`);
            return;
          }
          const rows = [['ID', 'TYPE', 'PREFIX', 'NAME', 'STATUS', 'BUDGET', 'RPM', 'EXPIRES']];
          for (const k of keys) {
            rows.push([
              k.id,
              k.kind === 'mk' ? 'management' : 'inference',
              k.prefix,
              k.name ?? '-',
              keyStatus(k),
              k.budget_micros === null ? '-' : formatUsd(k.budget_micros),
              k.rpm === null ? '-' : String(k.rpm),
              iso(k.expires_at),
            ]);
          }
          out(`${table(rows)}\n`);
        }),
      ),
    );

  key
    .command('revoke <id>')
    .description('revoke a key now (it stops working at once; this cannot be undone)')
    .option('--config <file>', 'config file')
    .action((id: string, o: { config?: string }) =>
      run(() =>
        withAdminGateway(o.config, env, async (gw) => {
          const k = findKey(gw, id);
          if (k.revoked_at !== null) {
            out(`Key ${id} was already revoked at ${iso(k.revoked_at)}.\n`);
            return;
          }
          const after = await gw.tenants.revokeKey(k.org_id, id);
          await gw.audit.record(CLI, { orgId: k.org_id, action: 'key.revoke', target: id, before: keySnapshot(k), after: keySnapshot(after) });
          out(`Revoked key ${id} (${k.prefix}).\n`);
        }),
      ),
    );

  key
    .command('rotate <id>')
    .description('issue a replacement key with the same settings; the old key keeps working for the overlap')
    .option('--overlap <seconds>', 'how long the old key stays valid', seconds, 24 * 3600)
    .option('--config <file>', 'config file')
    .action((id: string, o: { overlap: number; config?: string }) =>
      run(() =>
        withAdminGateway(o.config, env, async (gw) => {
          const k = findKey(gw, id);
          const r = await gw.tenants.rotateKey(k.org_id, id, o.overlap);
          await gw.audit.record(CLI, { orgId: k.org_id, action: 'key.rotate', target: id, before: keySnapshot(k), after: { previous: keySnapshot(r.previous), replacement: keySnapshot(r.row) } });
          out(`New key ${r.row.id} replaces ${id}; the old key stops working at ${iso(r.previous.expires_at)}.\nNew key (shown once):\n  ${r.key}\n`);
        }),
      ),
    );
}
