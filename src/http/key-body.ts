// The body of a key creation or change (SPEC §2), shared by /api/keys and the operator's
// /admin/orgs/{id}/keys: field validation, the key type, and settings in micro-USD and ms.
import { z } from 'zod';
import { usdToMicros } from '../billing/money.js';
import { GatewayError } from '../core/errors.js';
import type { KeyKind } from '../store/types.js';
import type { KeySettings } from '../tenants/service.js';
import { fallbackRules, limitField, modelList, usdField } from './parse.js';

export const keyFields = {
  name: z.string().max(200).nullable().optional(),
  budget_usd: usdField.nullable().optional(),
  rpm: limitField.nullable().optional(),
  tpm: limitField.nullable().optional(),
  max_concurrency: limitField.nullable().optional(),
  allowed_models: modelList.nullable().optional(),
  fallbacks: fallbackRules.optional(),
  expires_at: z.string().datetime({ offset: true }).nullable().optional(),
  cache: z
    .object({
      exact: z.boolean().optional(),
      semantic: z.boolean().optional(),
      // A cosine similarity: outside 0–1 the semantic layer would hit on every prompt or on none.
      threshold: z.number().min(0).max(1).optional(),
    })
    .strict()
    .nullable()
    .optional(),
};
const keyType = z.enum(['inference', 'management']);
export const createKeySchema = z.object({ ...keyFields, type: keyType.optional() }).strict();
export const patchKeySchema = z.object({ ...keyFields, disabled: z.boolean().optional() }).strict();

export type CreateKeyBody = z.infer<typeof createKeySchema>;

/** Fields that only mean something for an inference key (a management key never calls /v1). */
const INFERENCE_ONLY = ['budget_usd', 'rpm', 'tpm', 'max_concurrency', 'allowed_models', 'fallbacks', 'cache'] as const;

/** The kind of key a creation body asks for; a management key refuses inference-only settings. */
export function keyKindOf(body: CreateKeyBody, fallback: 'inference' | 'management'): KeyKind {
  const type = body.type ?? fallback;
  if (type === 'inference') return 'sk';
  refuseInferenceOnly(body);
  return 'mk';
}

/**
 * Settings a management key cannot hold, at creation and on a change alike: it never calls /v1,
 * so a budget or a limit on it would be shown but never enforced. null (clearing) is harmless.
 */
export function refuseInferenceOnly(body: z.infer<typeof patchKeySchema> | CreateKeyBody): void {
  const misplaced = INFERENCE_ONLY.find((f) => body[f] !== undefined && body[f] !== null);
  if (misplaced) {
    throw new GatewayError('invalid_value', `"${misplaced}" applies to inference keys only; a management key (type "management") takes "name" and "expires_at".`, { param: misplaced });
  }
}

export function toSettings(body: z.infer<typeof patchKeySchema> | CreateKeyBody): KeySettings {
  const s: KeySettings = {};
  if (body.name !== undefined) s.name = body.name;
  if (body.budget_usd !== undefined) s.budget_micros = body.budget_usd === null ? null : usdToMicros(body.budget_usd);
  if (body.rpm !== undefined) s.rpm = body.rpm;
  if (body.tpm !== undefined) s.tpm = body.tpm;
  if (body.max_concurrency !== undefined) s.max_concurrency = body.max_concurrency;
  if (body.allowed_models !== undefined) s.allowed_models = body.allowed_models;
  if (body.fallbacks !== undefined) s.fallbacks = body.fallbacks;
  if (body.expires_at !== undefined) s.expires_at = body.expires_at === null ? null : Date.parse(body.expires_at);
  if (body.cache !== undefined) s.cache = body.cache;
  if ('disabled' in body && body.disabled !== undefined) s.disabled = body.disabled;
  return s;
}
