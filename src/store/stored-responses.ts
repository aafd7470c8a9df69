// Queries for the responses the Responses API keeps (`store: true`): written once per id,
// read and deleted only within the owning org, invisible once expired, pruned by expiry.
import type { Kysely } from 'kysely';
import type { Database, StoredResponsesTable } from './schema.js';
import type { StoredResponseRow } from './types.js';

function fromDb(r: StoredResponsesTable): StoredResponseRow {
  return {
    id: r.id,
    org_id: r.org_id,
    key_id: r.key_id,
    model: r.model,
    previous_response_id: r.previous_response_id,
    response: JSON.parse(r.response) as Record<string, unknown>,
    input_items: JSON.parse(r.input_items) as Record<string, unknown>[],
    context: JSON.parse(r.context) as Record<string, unknown>[],
    created_at: Number(r.created_at),
    expires_at: Number(r.expires_at),
  };
}

export async function putResponse(db: Kysely<Database>, row: StoredResponseRow): Promise<void> {
  await db
    .insertInto('stored_responses')
    .values({
      id: row.id,
      org_id: row.org_id,
      key_id: row.key_id,
      model: row.model,
      previous_response_id: row.previous_response_id,
      response: JSON.stringify(row.response),
      input_items: JSON.stringify(row.input_items),
      context: JSON.stringify(row.context),
      created_at: row.created_at,
      expires_at: row.expires_at,
    })
    .onConflict((oc) => oc.column('id').doNothing())
    .execute();
}

export async function getResponse(db: Kysely<Database>, orgId: string, id: string, now: number): Promise<StoredResponseRow | undefined> {
  const row = await db
    .selectFrom('stored_responses')
    .selectAll()
    .where('id', '=', id)
    .where('org_id', '=', orgId)
    .where('expires_at', '>', now)
    .executeTakeFirst();
  return row ? fromDb(row) : undefined;
}

export async function deleteResponse(db: Kysely<Database>, orgId: string, id: string): Promise<boolean> {
  const res = await db.deleteFrom('stored_responses').where('id', '=', id).where('org_id', '=', orgId).executeTakeFirst();
  return Number(res.numDeletedRows) > 0;
}

export async function pruneResponses(db: Kysely<Database>, before: number): Promise<number> {
  const res = await db.deleteFrom('stored_responses').where('expires_at', '<=', before).executeTakeFirst();
  return Number(res.numDeletedRows);
}
