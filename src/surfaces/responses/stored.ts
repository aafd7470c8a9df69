// Stored responses (`store: true`): writing an answer with its conversation, reading it back for
// `previous_response_id`, and the GET / DELETE / input_items views. Always scoped to one org:
// another org's id reads exactly like an id that never existed.
import { createHash } from 'node:crypto';
import { GatewayError } from '../../core/errors.js';
import type { StoredResponseRow } from '../../store/types.js';
import { itemIdPrefix } from './items.js';
import { clientOutput } from './response-object.js';
import type { History } from './parse.js';
import type { Json, OutputItem, ResponseObject, ResponseRequestInfo } from './types.js';

/** The part of the Store this surface uses. */
export interface ResponsesStore {
  putResponse(row: StoredResponseRow): Promise<void>;
  getResponse(orgId: string, id: string, now: number): Promise<StoredResponseRow | undefined>;
  deleteResponse(orgId: string, id: string): Promise<boolean>;
}

export interface StoredResponsesOptions {
  store: ResponsesStore;
  retentionMs: number;
  onError: (err: unknown, responseId: string) => void;
  now?: () => number;
}

/**
 * An input item as GET input_items lists it (as OpenAI does): with an id, and a message's
 * string content as one text part. An item kept without an id (older answers) gets one derived
 * from the response and its position, so it is the same on every call.
 */
function listedItem(item: Json, responseId: string, position: number): Json {
  const { id, ...rest } = item;
  const out: Json = { id: typeof id === 'string' ? id : derivedItemId(item.type, responseId, position), ...rest };
  if ((item.type ?? 'message') === 'message' && typeof item.content === 'string') {
    out.content = [item.role === 'assistant' ? { type: 'output_text', text: item.content, annotations: [] } : { type: 'input_text', text: item.content }];
  }
  return out;
}

function derivedItemId(type: unknown, responseId: string, position: number): string {
  return `${itemIdPrefix(type)}_${createHash('sha256').update(`${responseId}\n${position}`).digest('hex').slice(0, 32)}`;
}

const notFound = (id: string, param?: string) =>
  new GatewayError('not_found', `No response with id "${id}" is stored for your organisation (it may have expired, been deleted, or been created with "store": false).`, param ? { param } : {});

export class StoredResponses {
  /** writes still in flight on this instance, so a quick follow-up waits for its predecessor */
  readonly #writing = new Map<string, Promise<void>>();
  readonly #now: () => number;

  constructor(private readonly o: StoredResponsesOptions) {
    this.#now = o.now ?? Date.now;
  }

  /** Keeps an answer; failures are reported, never thrown into the answer already sent. */
  save(info: ResponseRequestInfo, response: ResponseObject): void {
    if (!info.echo.store) return;
    const created = this.#now();
    const write = this.o.store
      .putResponse({
        id: info.responseId,
        org_id: info.orgId,
        key_id: info.keyId,
        model: response.model,
        previous_response_id: info.echo.previous_response_id,
        response: response as unknown as Record<string, unknown>,
        input_items: info.input,
        context: info.context,
        created_at: created,
        expires_at: created + this.o.retentionMs,
      })
      .catch((err) => this.o.onError(err, info.responseId))
      .finally(() => this.#writing.delete(info.responseId));
    this.#writing.set(info.responseId, write);
  }

  /** Finishes pending writes (shutdown, tests). */
  async flush(): Promise<void> {
    await Promise.all([...this.#writing.values()]);
  }

  async #row(orgId: string, id: string, param?: string): Promise<StoredResponseRow> {
    const pending = this.#writing.get(id);
    if (pending) await pending;
    const row = await this.o.store.getResponse(orgId, id, this.#now());
    if (!row) throw notFound(id, param);
    return row;
  }

  /** The conversation `previous_response_id` continues: its context, then its answer. */
  async history(orgId: string, id: string): Promise<History> {
    const row = await this.#row(orgId, id, 'previous_response_id');
    const output = (row.response.output ?? []) as Json[];
    return { items: [...row.context, ...output] };
  }

  async get(orgId: string, id: string, include: readonly string[]): Promise<ResponseObject> {
    const row = await this.#row(orgId, id);
    const r = row.response as unknown as ResponseObject;
    return { ...r, output: clientOutput(r.output as OutputItem[], include.includes('reasoning.encrypted_content')) };
  }

  async delete(orgId: string, id: string): Promise<{ id: string; object: 'response'; deleted: true }> {
    const pending = this.#writing.get(id);
    if (pending) await pending;
    if (!(await this.o.store.deleteResponse(orgId, id))) throw notFound(id);
    return { id, object: 'response', deleted: true };
  }

  /** GET /v1/responses/{id}/input_items: a cursor list over the request's own input items. */
  async inputItems(orgId: string, id: string, q: { limit?: unknown; order?: unknown; after?: unknown }): Promise<Json> {
    const limit = q.limit === undefined ? 20 : Number(q.limit);
    if (!Number.isInteger(limit) || limit < 1 || limit > 100) throw new GatewayError('invalid_value', '"limit" must be an integer from 1 to 100.', { param: 'limit' });
    const order = q.order ?? 'desc';
    if (order !== 'asc' && order !== 'desc') throw new GatewayError('invalid_value', '"order" must be "asc" or "desc".', { param: 'order' });
    const row = await this.#row(orgId, id);
    const listed = row.input_items.map((item, i) => listedItem(item, row.id, i));
    const items = order === 'asc' ? listed : listed.reverse();
    let start = 0;
    if (q.after !== undefined) {
      const at = items.findIndex((it) => it.id === q.after);
      if (at === -1) throw new GatewayError('invalid_value', `"after" names no input item of response "${id}".`, { param: 'after' });
      start = at + 1;
    }
    const data = items.slice(start, start + limit);
    return {
      object: 'list',
      data,
      first_id: (data[0]?.id as string | undefined) ?? null,
      last_id: (data[data.length - 1]?.id as string | undefined) ?? null,
      has_more: start + limit < items.length,
    };
  }
}
