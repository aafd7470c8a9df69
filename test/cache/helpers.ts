// Shared fixtures for the cache tests: requests, completions, a deterministic embedding and
// a probe for the local Redis.
import { Redis } from 'ioredis';
import type { ChatCompletion, ChatRequest } from '../../src/core/types.js';
import type { CachedEntry } from '../../src/cache/types.js';
import { serviceMissing } from '../helpers/services.js';

export function chatRequest(overrides: Partial<ChatRequest> = {}): ChatRequest {
  return {
    model: 'gpt-test',
    messages: [
      { role: 'system', content: 'You are terse.' },
      { role: 'user', content: 'What is the capital of France?' },
    ],
    temperature: 0,
    ...overrides,
  };
}

export function completion(content: string, overrides: Partial<ChatCompletion> = {}): ChatCompletion {
  return {
    id: 'chatcmpl-1',
    object: 'chat.completion',
    created: 1_700_000_000,
    model: 'gpt-test-2025',
    choices: [{ index: 0, message: { role: 'assistant', content }, finish_reason: 'stop' }],
    usage: { prompt_tokens: 12, completion_tokens: 3, total_tokens: 15 },
    ...overrides,
  };
}

export function entry(body: string, createdAt = 0): CachedEntry {
  return { body, usage: { prompt_tokens: 10, completion_tokens: 5 }, model: 'gpt-test-2025', createdAt };
}

const STOPWORDS = new Set(['a', 'an', 'the', 'is', 's', 'of', 'to', 'do', 'i', 'in']);
const DIMS = 256;

/**
 * Bag of words hashed into 256 buckets: paraphrases that share their content words score
 * high, unrelated prompts score near zero, and the result never depends on a network.
 */
export function bagOfWords(text: string): Float32Array {
  const v = new Float32Array(DIMS);
  for (const word of text.toLowerCase().split(/[^a-z0-9]+/)) {
    if (word === '' || STOPWORDS.has(word)) continue;
    let h = 0x811c9dc5;
    for (let i = 0; i < word.length; i++) h = Math.imul(h ^ word.charCodeAt(i), 0x01000193);
    v[(h >>> 0) % DIMS] += 1;
  }
  return v;
}

export const REDIS_URL = process.env.TOLLGATE_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';

/** A connected client, or undefined (after saying why) when no Redis answers. */
export async function connectTestRedis(): Promise<Redis | undefined> {
  const redis = new Redis(REDIS_URL, { lazyConnect: true, connectTimeout: 1000, maxRetriesPerRequest: 0, retryStrategy: () => null });
  redis.on('error', () => {});
  try {
    await redis.connect();
    await redis.ping();
    return redis;
  } catch (err) {
    redis.disconnect();
    serviceMissing('Redis', `unreachable at ${REDIS_URL}: ${(err as Error).message}`, 'the Redis-backed cache tests');
    return undefined;
  }
}

/** Deletes every key under `prefix`; used to leave the shared Redis as it was found. */
export async function deleteByPrefix(redis: Redis, prefix: string): Promise<void> {
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 500);
    if (keys.length > 0) await redis.del(...keys);
    cursor = next;
  } while (cursor !== '0');
}

export function manualClock(start = 1_000_000): { now: () => number; advance: (ms: number) => void } {
  let t = start;
  return { now: () => t, advance: (ms) => (t += ms) };
}
