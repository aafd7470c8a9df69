// Which requests may be answered from, and stored into, the response cache (SPEC §9).
import type { ChatRequest } from '../core/types.js';

export type CacheDecision = 'bypass' | 'cacheable';

/**
 * Only answers a model would give again are worth replaying:
 * - streams bypass: replaying one would need a chunk re-synthesiser, and SPEC limits the
 *   cache to non-streaming requests;
 * - `temperature` must be present and ≤ 0. An absent (or null) temperature means the
 *   provider default, which is 1 for OpenAI, so the answer is sampled, not deterministic;
 * - `top_p` must be absent, null (both mean the default 1) or exactly 1;
 * - `n` > 1 stays cacheable: `n` is part of the key, so a request for three choices is only
 *   ever served a stored three-choice answer, and at temperature 0 those are as
 *   reproducible as a single one;
 * - the client can opt out with `Cache-Control: no-cache` or `no-store`.
 */
export function cacheDecision(req: ChatRequest, headers: { cacheControl?: string }): CacheDecision {
  if (req.stream === true) return 'bypass';
  const t = req.temperature;
  if (typeof t !== 'number' || !(t <= 0)) return 'bypass';
  const p = req.top_p;
  if (p !== undefined && p !== null && p !== 1) return 'bypass';
  const cc = headers.cacheControl;
  if (cc !== undefined && cc !== '' && optsOutOfCache(cc)) return 'bypass';
  return 'cacheable';
}

/**
 * True when a Cache-Control header carries `no-cache` or `no-store` as a directive name,
 * in any casing and position. Quoted directive values are skipped so that text such as
 * `foo="no-cache"` is not mistaken for the directive.
 */
export function optsOutOfCache(header: string): boolean {
  const len = header.length;
  let i = 0;
  while (i < len) {
    while (i < len && (header[i] === ' ' || header[i] === '\t' || header[i] === ',')) i++;
    const start = i;
    while (i < len && header[i] !== '=' && header[i] !== ',' && header[i] !== ' ' && header[i] !== '\t') i++;
    const name = header.slice(start, i).toLowerCase();
    if (name === 'no-cache' || name === 'no-store') return true;
    // Skip the rest of this directive, including any quoted value that may hold commas.
    let quoted = false;
    while (i < len) {
      const c = header[i];
      if (quoted) {
        if (c === '\\') i++;
        else if (c === '"') quoted = false;
      } else if (c === '"') quoted = true;
      else if (c === ',') break;
      i++;
    }
  }
  return false;
}
