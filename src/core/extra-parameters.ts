// Provider-specific request fields (vLLM's top_k, Ollama's options, OpenRouter's provider …)
// that an operator lets through with `extra_parameters` on a provider or a model. Fields that
// choose an upstream address are refused whatever the config says.
import type { ModelConfig, ProviderConfig } from '../config/schema.js';
import { GatewayError } from './errors.js';

/** A model's or provider's declaration: parameter names, or "any" field at all. */
export type ExtraParameters = readonly string[] | 'any';

// Words that make a field name an upstream address (`api_base`, `baseURL`, `proxy_url` …).
const ADDRESS_WORDS = new Set(['url', 'urls', 'uri', 'uris', 'host', 'hostname', 'hosts', 'endpoint', 'endpoints', 'proxy', 'address', 'origin', 'domain', 'server', 'socket']);
const ADDRESS_PAIRS = new Set(['apibase', 'basepath', 'baseapi']);
// Names that are properties of every JS object: one of them in a lookup would match by accident.
const RESERVED = new Set(['__proto__', 'constructor', 'prototype']);

function words(name: string): string[] {
  return name
    .replace(/([a-z0-9])([A-Z])/g, '$1_$2')
    .toLowerCase()
    .split(/[^a-z0-9]+/)
    .filter((w) => w.length > 0);
}

/** Does this field name choose where a request goes? Such fields never pass, whatever the config. */
export function isAddressParameter(name: string): boolean {
  const w = words(name);
  for (let i = 0; i < w.length; i++) {
    if (ADDRESS_WORDS.has(w[i])) return true;
    if (i + 1 < w.length && ADDRESS_PAIRS.has(w[i] + w[i + 1])) return true;
  }
  return ADDRESS_PAIRS.has(w.join(''));
}

/** Why a name cannot be declared as an extra parameter, or undefined when it can. */
export function extraParameterProblem(name: string): string | undefined {
  if (RESERVED.has(name)) return `"${name}" is not a parameter name`;
  if (isAddressParameter(name)) return `"${name}" chooses an upstream address; upstream addresses come from the provider's base_url only`;
  return undefined;
}

/**
 * The extra parameters a model accepts: its own declaration, plus those that every one of its
 * channels' providers declares (a field one provider understands would be refused by another).
 */
export function effectiveExtraParameters(model: ModelConfig, providers: readonly ProviderConfig[]): ModelConfig['extra_parameters'] {
  const own = model.extra_parameters;
  if (own === 'any') return 'any';
  let shared: readonly string[] | 'any' | undefined;
  for (const p of providers) {
    const decl = p.extra_parameters;
    if (decl === undefined) {
      shared = undefined;
      break;
    }
    if (shared === undefined) shared = decl;
    else if (shared === 'any') shared = decl;
    else if (decl !== 'any') {
      const d = new Set(decl);
      shared = shared.filter((n) => d.has(n));
    }
  }
  if (shared === 'any') return 'any';
  const names = [...new Set([...(own ?? []), ...(shared ?? [])])];
  return names.length > 0 ? names : undefined;
}

/** Is `name` (not a Chat Completions parameter) let through by this declaration? */
export function acceptsExtraParameter(extras: ExtraParameters | undefined, name: string): boolean {
  if (extras === undefined || extraParameterProblem(name) !== undefined) return false;
  return extras === 'any' || extras.includes(name);
}

/** The refusal for a field that is neither a Chat Completions parameter nor declared for the model. */
export function unknownParameterError(name: string, modelId?: string): GatewayError {
  const why = isAddressParameter(name)
    ? '; upstream addresses come from the gateway configuration only'
    : modelId
      ? `, and model "${modelId}" does not declare it in extra_parameters`
      : '';
  return new GatewayError('unknown_parameter', `Unknown parameter "${name}". It is not a Chat Completions parameter${why}.`, { param: name });
}
