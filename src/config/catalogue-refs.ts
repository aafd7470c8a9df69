// Expands the config's references to the built-in catalogue before validation: a model with
// `catalogue: <id>` starts from the catalogue entry (fields given beside it override the
// entry's), and a wildcard route ("openai/*") is priced from the catalogue unless it says
// otherwise and sends the matched name upstream unless a channel names another.
import { CATALOGUE, type CatalogueModel, catalogueModel, catalogueVendor, upstreamName, vendorOfProvider } from '../catalogue/index.js';
import { nearestName } from './suggest.js';

export interface RefProblem {
  path: PropertyKey[];
  message: string;
}

const isObject = (v: unknown): v is Record<string, unknown> => !!v && typeof v === 'object' && !Array.isArray(v);

/** A catalogue entry as a config model (without channels). */
export function catalogueModelInput(entry: CatalogueModel): Record<string, unknown> {
  const vendor = catalogueVendor(entry.vendor);
  return {
    id: entry.id,
    ...(entry.aliases.length > 0 ? { aliases: [...entry.aliases] } : {}),
    kind: entry.kind ?? 'chat',
    context_window: entry.context_window,
    max_output_tokens: entry.max_output_tokens,
    pricing: { ...entry.pricing },
    description: `${vendor?.name ?? entry.vendor} ${entry.id} (built-in catalogue; prices checked ${entry.prices_checked})`,
  };
}

function expandReference(m: Record<string, unknown>, i: number, providers: Record<string, unknown>[], problems: RefProblem[]): Record<string, unknown> {
  const ref = m.catalogue;
  if (typeof ref !== 'string') return m;
  const entry = catalogueModel(ref);
  if (!entry) {
    const near = nearestName(ref, CATALOGUE.models.map((e) => e.id));
    problems.push({ path: ['models', i, 'catalogue'], message: `"${ref}" is not in the built-in catalogue${near ? `; did you mean "${near}"?` : ''} (\`tollgate models\` lists it)` });
    return m;
  }
  const out: Record<string, unknown> = { ...catalogueModelInput(entry), ...m, catalogue: entry.id };
  if (isObject(m.pricing)) out.pricing = { ...entry.pricing, ...m.pricing };
  if (m.channels === undefined) {
    const provider = providers.find((p) => vendorOfProvider(p) === entry.vendor);
    if (provider) out.channels = [{ provider: provider.id, upstream_model: upstreamName(entry) }];
    else {
      const vendor = catalogueVendor(entry.vendor);
      problems.push({
        path: ['models', i, 'channels'],
        message: `no configured provider serves "${entry.id}" (vendor: ${vendor?.name ?? entry.vendor}): add a provider of type ${vendor?.type ?? 'openai'}${vendor?.type === 'openai' ? ` with base_url ${vendor.base_url}` : ''}, or give this model channels`,
      });
    }
  }
  return out;
}

/** A wildcard route: priced from the catalogue unless it names a price, channels forward the matched name. */
function expandWildcard(m: Record<string, unknown>): Record<string, unknown> {
  if (typeof m.id !== 'string' || !m.id.endsWith('*')) return m;
  const out: Record<string, unknown> = { ...m };
  if (out.pricing === undefined) out.pricing = 'catalogue';
  if (Array.isArray(m.channels)) out.channels = m.channels.map((c) => (isObject(c) && c.upstream_model === undefined ? { ...c, upstream_model: '*' } : c));
  return out;
}

export function expandCatalogueModels(raw: unknown): { raw: unknown; problems: RefProblem[] } {
  if (!isObject(raw) || !Array.isArray(raw.models)) return { raw, problems: [] };
  const providers = Array.isArray(raw.providers) ? raw.providers.filter(isObject) : [];
  const problems: RefProblem[] = [];
  const models = raw.models.map((m, i) => (isObject(m) ? expandWildcard(expandReference(m, i, providers, problems)) : m));
  return { raw: { ...raw, models }, problems };
}
