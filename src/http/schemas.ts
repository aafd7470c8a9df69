// The shapes of the answers of /v1, declared once, and the helpers the management answers
// (management-schemas.ts) share: the OpenAPI document (GET /openapi.json) is generated from
// them. Inference answers follow OpenAI's and Anthropic's objects, whose optional fields vary,
// so they list the fields every answer has and allow the rest.
import { z } from 'zod';

export const isoTime = z.string().meta({ description: 'ISO 8601 time' });
export const usd = z.number().meta({ description: 'US dollars' });

export const listOf = <T extends z.ZodType>(item: T) => z.object({ object: z.literal('list'), data: z.array(item) });
export const pageOf = <T extends z.ZodType>(item: T) =>
  z.object({ object: z.literal('list'), data: z.array(item), next_cursor: z.string().nullable().meta({ description: 'Pass as `cursor` for the next page; null on the last page.' }) });

/** A model as the inference API lists it (OpenAI's and Anthropic's fields, plus Tollgate's). */
export const modelObject = z
  .object({
    id: z.string(),
    object: z.literal('model'),
    created: z.number().int(),
    display_name: z.string(),
    created_at: isoTime,
    owned_by: z.string(),
    type: z.literal('model'),
    kind: z.string().meta({ description: 'chat, embedding, image, …' }),
    aliases: z.array(z.string()),
    context_length: z.number().int(),
    max_output_tokens: z.number().int(),
    pricing: z.object({ input_per_mtok: z.number(), output_per_mtok: z.number(), currency: z.literal('USD') }).loose(),
    supported_parameters: z.array(z.string()),
  })
  .loose();
export const modelPage = listOf(modelObject).extend({ has_more: z.boolean(), first_id: z.string().nullable(), last_id: z.string().nullable() });

// Inference: request bodies are checked by each surface's own validator (one pass, SPEC's exact
// errors); these describe their main fields, and answers list the fields every answer has.
const message = z.object({ role: z.string(), content: z.unknown().optional() }).loose();
export const chatRequest = z
  .object({
    model: z.string(),
    messages: z.array(message).min(1),
    stream: z.boolean().optional(),
    max_tokens: z.number().int().optional(),
    max_completion_tokens: z.number().int().optional(),
    temperature: z.number().optional(),
    tools: z.array(z.object({ type: z.string() }).loose()).optional(),
  })
  .loose()
  .meta({ description: 'OpenAI Chat Completions request; other OpenAI parameters are accepted as documented in docs/api.md.' });
const tokenUsage = z.object({ prompt_tokens: z.number().int(), completion_tokens: z.number().int(), total_tokens: z.number().int() }).loose();
export const chatCompletion = z
  .object({
    id: z.string(),
    object: z.literal('chat.completion'),
    created: z.number().int(),
    model: z.string(),
    choices: z.array(z.object({ index: z.number().int(), message: z.object({ role: z.literal('assistant') }).loose(), finish_reason: z.string().nullable() }).loose()),
    usage: tokenUsage,
  })
  .loose();

export const completionsRequest = z
  .object({
    model: z.string(),
    prompt: z.union([z.string(), z.array(z.string()), z.array(z.number().int()), z.array(z.array(z.number().int()))]),
    suffix: z.string().nullable().optional(),
    max_tokens: z.number().int().optional(),
    stream: z.boolean().optional(),
  })
  .loose()
  .meta({ description: 'OpenAI legacy Completions request.' });
export const textCompletion = z
  .object({
    id: z.string(),
    object: z.literal('text_completion'),
    created: z.number().int(),
    model: z.string(),
    choices: z.array(z.object({ index: z.number().int(), text: z.string(), finish_reason: z.string().nullable() }).loose()),
    usage: tokenUsage,
  })
  .loose();

export const responsesRequest = z
  .object({ model: z.string(), input: z.unknown().optional(), instructions: z.string().optional(), stream: z.boolean().optional(), store: z.boolean().optional(), previous_response_id: z.string().optional() })
  .loose()
  .meta({ description: 'OpenAI Responses request.' });
export const responseObject = z
  .object({
    id: z.string(),
    object: z.literal('response'),
    created_at: z.number().int(),
    status: z.string(),
    model: z.string(),
    output: z.array(z.object({ type: z.string() }).loose()),
  })
  .loose();
export const responseDeleted = z.object({ id: z.string(), object: z.literal('response'), deleted: z.literal(true) });
export const inputItemsPage = z.object({ object: z.literal('list'), data: z.array(z.object({ type: z.string() }).loose()), first_id: z.string().nullable(), last_id: z.string().nullable(), has_more: z.boolean() }).loose();

export const messagesRequest = z
  .object({ model: z.string(), max_tokens: z.number().int(), messages: z.array(message), system: z.unknown().optional(), stream: z.boolean().optional() })
  .loose()
  .meta({ description: 'Anthropic Messages request.' });
export const messageObject = z
  .object({
    id: z.string(),
    type: z.literal('message'),
    role: z.literal('assistant'),
    model: z.string(),
    content: z.array(z.object({ type: z.string() }).loose()),
    stop_reason: z.string().nullable(),
    usage: z.object({ input_tokens: z.number().int(), output_tokens: z.number().int() }).loose(),
  })
  .loose();
export const countTokensRequest = z.object({ model: z.string(), messages: z.array(message), system: z.unknown().optional() }).loose();
export const countTokensAnswerSchema = z.object({ input_tokens: z.number().int() });

export const embeddingsRequest = z
  .object({ model: z.string(), input: z.union([z.string(), z.array(z.string()), z.array(z.number()), z.array(z.array(z.number()))]), encoding_format: z.enum(['float', 'base64']).optional(), dimensions: z.number().int().optional() })
  .loose();
export const embeddingsAnswer = z
  .object({
    object: z.literal('list'),
    data: z.array(z.object({ object: z.literal('embedding'), index: z.number().int(), embedding: z.union([z.array(z.number()), z.string()]) }).loose()),
    model: z.string(),
    usage: z.object({ prompt_tokens: z.number().int(), total_tokens: z.number().int() }).loose(),
  })
  .loose();

export const imagesRequest = z
  .object({
    model: z.string(),
    prompt: z.string(),
    n: z.number().int().optional(),
    size: z.string().optional(),
    quality: z.string().optional(),
    response_format: z.enum(['b64_json', 'url']).optional(),
  })
  .loose()
  .meta({ description: 'OpenAI Images generation request.' });
export const imagesAnswer = z
  .object({
    created: z.number().int(),
    data: z.array(z.object({ b64_json: z.string().optional(), url: z.string().optional(), revised_prompt: z.string().optional() }).loose()),
  })
  .loose();
