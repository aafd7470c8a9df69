// The built-in model catalogue: vendors (key variable, provider type, base URL) and their
// models with context window, output limit, prices and capabilities. The data lives in
// models.json beside this file; this module only reads and indexes it.
import data from './models.json' with { type: 'json' };

export interface CatalogueVendor {
  id: string;
  name: string;
  /** the provider type Tollgate uses to talk to it */
  type: 'openai' | 'anthropic' | 'gemini';
  base_url: string;
  /** an environment variable that overrides base_url in the embedded default */
  base_url_env?: string;
  /** setting any of these exposes the vendor's models with no config file */
  env: string[];
  pricing_page: string;
  /** the provider serves any model name the upstream knows, priced from this catalogue */
  pass_through?: boolean;
}

export interface CataloguePricing {
  input_per_mtok: number;
  output_per_mtok: number;
  cache_read_per_mtok: number;
  cache_write_per_mtok: number;
  /** image models: USD per image, flat or by size and then quality */
  per_image?: number | Record<string, number | Record<string, number>>;
  /** transcription models: USD per second of audio (replaces the token prices) */
  per_audio_second?: number;
}

export interface CatalogueModel {
  id: string;
  vendor: string;
  /** the name the vendor's API knows, when it differs from id */
  upstream?: string;
  kind?: 'chat' | 'embedding' | 'image' | 'transcription';
  context_window: number;
  max_output_tokens: number;
  pricing: CataloguePricing;
  capabilities: { tools: boolean; vision: boolean; reasoning: boolean; json_schema: boolean };
  aliases: string[];
  prices_checked: string;
  source: string;
  note?: string;
}

export interface Catalogue {
  vendors: CatalogueVendor[];
  models: CatalogueModel[];
}

export const CATALOGUE: Catalogue = data as Catalogue;

/** The name a model has at its vendor's API. */
export function upstreamName(m: CatalogueModel): string {
  return m.upstream ?? m.id;
}

const byId = new Map<string, CatalogueModel>();
const byName = new Map<string, CatalogueModel>();
const byVendorName = new Map<string, Map<string, CatalogueModel>>();
for (const m of CATALOGUE.models) {
  byId.set(m.id, m);
  for (const name of [m.id, ...m.aliases]) if (!byName.has(name)) byName.set(name, m);
  let own = byVendorName.get(m.vendor);
  if (!own) byVendorName.set(m.vendor, (own = new Map()));
  for (const name of [m.id, upstreamName(m), ...m.aliases]) if (!own.has(name)) own.set(name, m);
}

export function catalogueVendor(id: string): CatalogueVendor | undefined {
  return CATALOGUE.vendors.find((v) => v.id === id);
}

/** A catalogue entry by its id or one of its aliases. */
export function catalogueModel(name: string): CatalogueModel | undefined {
  return byName.get(name) ?? byName.get(name.toLowerCase());
}

export function vendorModels(vendor: string): CatalogueModel[] {
  return CATALOGUE.models.filter((m) => m.vendor === vendor);
}

/** "a/b/c" → ["a/b/c", "b/c", "c"]: the name, then the name with each leading vendor prefix stripped. */
function strippings(name: string): string[] {
  const out = [name];
  let rest = name;
  for (let i = rest.indexOf('/'); i >= 0 && i < rest.length - 1; i = rest.indexOf('/')) {
    rest = rest.slice(i + 1);
    out.push(rest);
  }
  return out;
}

export interface PricedName {
  entry: CatalogueModel;
  /** the model name to send upstream */
  upstream: string;
}

/**
 * Prices a model name a client sent through a wildcard route. The provider's own vendor's
 * entries come first (by id, upstream name or alias, stripping vendor prefixes), and the
 * upstream is then sent that vendor's name for the model; otherwise any entry by id or alias,
 * and the name goes upstream as the client wrote it. Undefined: no price is known.
 */
export function priceName(name: string, vendor: string | undefined): PricedName | undefined {
  const candidates = strippings(name);
  const own = vendor ? byVendorName.get(vendor) : undefined;
  if (own) {
    for (const c of candidates) {
      const m = own.get(c) ?? own.get(c.toLowerCase());
      if (m) return { entry: m, upstream: upstreamName(m) };
    }
  }
  for (const c of candidates) {
    const m = catalogueModel(c);
    if (m) return { entry: m, upstream: name };
  }
  return undefined;
}

/** The catalogue entry a config model was made from, by id (for listings). */
export function catalogueEntry(id: string): CatalogueModel | undefined {
  return byId.get(id);
}

interface ProviderLike {
  id?: unknown;
  type?: unknown;
  base_url?: unknown;
}

function hostOf(url: unknown): string | undefined {
  if (typeof url !== 'string') return undefined;
  try {
    return new URL(url).host.toLowerCase();
  } catch {
    return undefined;
  }
}

/**
 * Which catalogue vendor a configured provider is: Anthropic and Gemini by type, else a vendor
 * whose base URL has the provider's host, else a vendor whose id is the provider's id and
 * whose provider type matches (a provider with no base URL of its own).
 */
export function vendorOfProvider(p: ProviderLike): string | undefined {
  if (p.type === 'anthropic') return 'anthropic';
  if (p.type === 'gemini') return 'gemini';
  if (p.type === 'azure-openai') return 'openai';
  if (p.type !== 'openai') return undefined;
  const host = hostOf(p.base_url);
  if (host) return CATALOGUE.vendors.find((v) => v.type === 'openai' && hostOf(v.base_url) === host)?.id;
  const named = CATALOGUE.vendors.find((v) => v.id === p.id && v.type === 'openai');
  return named?.id ?? 'openai';
}
