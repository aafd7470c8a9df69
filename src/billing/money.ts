// Money is integer micro-USD inside Tollgate; decimals exist only at the API edge.
import type { ModelConfig } from '../config/schema.js';

export const MICROS_PER_USD = 1_000_000;

export function usdToMicros(usd: number): number {
  return Math.round(usd * MICROS_PER_USD);
}

/** JSON number with up to 6 decimals. */
export function microsToUsd(micros: number): number {
  return Math.round(micros) / MICROS_PER_USD;
}

/** Token counts by price class: `prompt` includes cache reads and writes. */
export interface BilledTokens {
  prompt: number;
  completion: number;
  cacheRead?: number;
  cacheWrite?: number;
}

/** Cache prices when a model's pricing names none: providers charge a fraction of input for reads, Anthropic a premium for writes. */
export function cachePrices(model: ModelConfig, providerType: string | undefined): { read: number; write: number } {
  const p = model.pricing;
  return {
    read: p.cache_read_per_mtok ?? p.input_per_mtok * 0.1,
    write: p.cache_write_per_mtok ?? (providerType === 'anthropic' ? p.input_per_mtok * 1.25 : p.input_per_mtok),
  };
}

/** A price in USD per million tokens is exactly micro-USD per token; each class at its own price. */
export function costMicros(model: ModelConfig, t: BilledTokens, providerType?: string): number {
  const read = t.cacheRead ?? 0;
  const write = t.cacheWrite ?? 0;
  const p = model.pricing;
  let micros = Math.max(0, t.prompt - read - write) * p.input_per_mtok + t.completion * p.output_per_mtok;
  if (read > 0 || write > 0) {
    const c = cachePrices(model, providerType);
    micros += read * c.read + write * c.write;
  }
  return Math.round(micros);
}

/** Worst case for a request: its prompt estimate at the dearest prompt price plus every output token it may produce. */
export function worstCaseMicros(model: ModelConfig, promptTokens: number, maxOutputTokens: number, providerType?: string): number {
  const p = model.pricing;
  const promptPrice = Math.max(p.input_per_mtok, cachePrices(model, providerType).write);
  return Math.ceil(promptTokens * promptPrice + maxOutputTokens * p.output_per_mtok);
}

export function formatUsd(micros: number): string {
  const usd = micros / MICROS_PER_USD;
  return Math.abs(usd) >= 0.01 || usd === 0 ? `$${usd.toFixed(2)}` : `$${usd.toFixed(6)}`;
}
