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

/** A price in USD per million tokens is exactly micro-USD per token. */
export function costMicros(model: ModelConfig, promptTokens: number, completionTokens: number): number {
  return Math.round(promptTokens * model.pricing.input_per_mtok + completionTokens * model.pricing.output_per_mtok);
}

/** Worst case for a request: its prompt estimate plus every output token it may produce. */
export function worstCaseMicros(model: ModelConfig, promptTokens: number, maxOutputTokens: number): number {
  return Math.ceil(promptTokens * model.pricing.input_per_mtok + maxOutputTokens * model.pricing.output_per_mtok);
}

export function formatUsd(micros: number): string {
  const usd = micros / MICROS_PER_USD;
  return Math.abs(usd) >= 0.01 || usd === 0 ? `$${usd.toFixed(2)}` : `$${usd.toFixed(6)}`;
}
