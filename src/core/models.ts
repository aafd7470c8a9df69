// Model lookup with "did you mean" suggestions, permissions and the public model listing.
import type { ModelConfig } from '../config/schema.js';
import type { ChannelTable, ModelRuntime } from '../routing/channels.js';
import type { KeyRow, OrgRow } from '../store/types.js';
import { GatewayError } from './errors.js';
import { ALL_CHAT_PARAMETERS } from './validate.js';

function distance(a: string, b: string): number {
  if (Math.abs(a.length - b.length) > 3) return 99;
  const prev = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let diag = prev[0];
    prev[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const tmp = prev[j];
      prev[j] = Math.min(prev[j] + 1, prev[j - 1] + 1, diag + (a[i - 1] === b[j - 1] ? 0 : 1));
      diag = tmp;
    }
  }
  return prev[b.length];
}

export function suggestModel(wanted: string, ids: Iterable<string>): string | undefined {
  const lower = wanted.toLowerCase().trim();
  let best: string | undefined;
  let bestScore = 99;
  for (const id of ids) {
    if (id === lower) return id;
    const normalised = lower.replace(/[\s_]+/g, '-');
    if (id === normalised) return id;
    const d = distance(lower, id);
    if (d < bestScore) {
      bestScore = d;
      best = id;
    }
  }
  return bestScore <= Math.max(2, Math.floor(wanted.length / 5)) ? best : undefined;
}

/** An allowed_models list admits a model by its id, or by a pattern ending in "*" ("openai/*") that its id starts with. */
export function listAdmits(list: readonly string[], modelId: string): boolean {
  return list.some((entry) => entry === modelId || (entry.endsWith('*') && modelId.startsWith(entry.slice(0, -1))));
}

export function isModelAllowed(modelId: string, org: OrgRow, key: KeyRow): boolean {
  if (org.allowed_models && !listAdmits(org.allowed_models, modelId)) return false;
  if (key.allowed_models && !listAdmits(key.allowed_models, modelId)) return false;
  return true;
}

/**
 * A model by its id or one of its aliases, else through a wildcard route; models are few, so a
 * scan on a miss costs less than keeping an index fresh.
 */
export function findModel(table: ChannelTable, name: string): ModelRuntime | undefined {
  const m = table.get(name);
  if (m) return m;
  for (const candidate of table.models.values()) {
    if (candidate.config.aliases?.includes(name)) return candidate;
  }
  const routed = table.matchWildcard(name);
  return routed?.kind === 'model' ? routed.model : undefined;
}

/** The refusal of a name a wildcard route matches but the catalogue has no price for: never served free. */
function unpricedName(name: string, route: string): GatewayError {
  return new GatewayError(
    'model_not_found',
    `The model "${name}" matches the route "${route}", but Tollgate's model catalogue has no price for it, so it is not served. Pick a model from GET /v1/models, or ask the operator to add "${name}" to the config with its pricing.`,
    { param: 'model' },
  );
}

export function resolveModel(table: ChannelTable, modelId: string, visible: (id: string) => boolean): ModelRuntime {
  const m = findModel(table, modelId);
  if (m) return m;
  const routed = table.matchWildcard(modelId);
  if (routed?.kind === 'unpriced') throw unpricedName(modelId, routed.route.config.id);
  const hint = suggestModel(
    modelId,
    [...table.models.keys()].filter((id) => visible(id)),
  );
  throw new GatewayError('model_not_found', `The model "${modelId}" does not exist${hint ? `; did you mean \`${hint}\`?` : '.'} List the models you can use with GET /v1/models.`, {
    param: 'model',
  });
}

/** At most this many entries of an allowed_models list are named in a refusal. */
const LISTED_IN_REFUSAL = 10;

function listed(list: readonly string[]): string {
  if (list.length === 0) return 'none';
  const shown = list.slice(0, LISTED_IN_REFUSAL).join(', ');
  return list.length > LISTED_IN_REFUSAL ? `${shown} and ${list.length - LISTED_IN_REFUSAL} more` : shown;
}

/**
 * The refusal of a model the key may not use, naming the list that refuses it and who can change
 * that list: the organisation's (set by the operator) when it does not admit the model, else the
 * key's own (set by an org admin). Only the caller's own org and key settings are named.
 */
export function notAllowed(modelId: string, org: OrgRow, key: KeyRow, via?: string, asked = modelId): GatewayError {
  const named = `"${asked}"${via ? ` (${via})` : ''}`;
  const param = via === 'requested in "models"' ? 'models' : 'model';
  if (org.allowed_models && !listAdmits(org.allowed_models, modelId)) {
    return new GatewayError(
      'model_not_allowed',
      `This key's organisation may not use the model ${named}: the organisation's allowed_models do not include it (allowed: ${listed(org.allowed_models)}). List the models this key may use with GET /v1/models; only the operator can change the organisation's allowed_models (PATCH /admin/orgs/{id}).`,
      { param },
    );
  }
  return new GatewayError(
    'model_not_allowed',
    `This key may not use the model ${named}: the key's allowed_models do not include it (allowed: ${listed(key.allowed_models ?? [])}). List the models it may use with GET /v1/models; an org admin can change the key's allowed_models with PATCH /api/keys/{id}.`,
    { param },
  );
}

const EPOCH_ISO = new Date(0).toISOString();

/** The OpenAI list entry for a model, with Tollgate's extra fields. */
export function describeModel(m: ModelRuntime): Record<string, unknown> {
  const c: ModelConfig = m.config;
  const supported = m.supported ?? ALL_CHAT_PARAMETERS;
  const extras = c.extra_parameters;
  return {
    id: c.id,
    object: 'model',
    created: 0,
    // The fields Anthropic's Models API has, so Anthropic SDKs can list models too.
    display_name: c.id,
    created_at: EPOCH_ISO,
    owned_by: [...new Set(m.channels.map((ch) => ch.provider.type === 'mock' ? 'tollgate-mock' : ch.provider.id))].join(','),
    ...(c.description ? { description: c.description } : {}),
    type: 'model',
    kind: c.kind,
    aliases: c.aliases ?? [],
    context_length: c.context_window,
    max_output_tokens: c.max_output_tokens,
    pricing: { input_per_mtok: c.pricing.input_per_mtok, output_per_mtok: c.pricing.output_per_mtok, currency: 'USD' },
    supported_parameters: extras === undefined || extras === 'any' ? supported : [...supported, ...extras.filter((x) => !supported.includes(x))],
    ...(extras === 'any' ? { extra_parameters: 'any' } : {}),
    ...(m.channels.some((ch) => ch.provider.type === 'mock') ? { mock: true } : {}),
  };
}

const ROUTE_OF_KIND: Record<ModelConfig['kind'], string> = {
  chat: 'POST /v1/chat/completions (or /v1/messages, /v1/responses, /v1/completions)',
  embedding: 'POST /v1/embeddings',
  image: 'POST /v1/images/generations',
  transcription: 'POST /v1/audio/transcriptions or /v1/audio/translations',
};

/** A model named on a route that does not serve its kind. */
export function wrongKind(model: ModelRuntime, wanted: ModelConfig['kind']): GatewayError {
  const kind = model.config.kind;
  return new GatewayError(
    'invalid_value',
    `"${model.config.id}" is ${kind === 'image' ? 'an' : 'a'} ${kind} model; use ${ROUTE_OF_KIND[kind]}, or pick ${wanted === 'embedding' || wanted === 'image' ? 'an' : 'a'} ${wanted} model from GET /v1/models.`,
    { param: 'model' },
  );
}
