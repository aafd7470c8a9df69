// `tollgate models`: the built-in catalogue, one line a model, marking what the loaded config serves.
import { CATALOGUE, type CatalogueModel, vendorOfProvider } from '../catalogue/index.js';
import { type Config, isWildcardId } from '../config/schema.js';

/** How the config serves a catalogue entry: by a model of its own ("*"), or through a wildcard route ("~"). */
export type Served = '*' | '~' | ' ';

export function servedMarks(config: Config): Map<string, Served> {
  const marks = new Map<string, Served>();
  const byName = new Set<string>();
  for (const m of config.models) {
    if (isWildcardId(m.id)) continue;
    if (m.catalogue) byName.add(m.catalogue);
    byName.add(m.id);
  }
  const providers = new Map(config.providers.map((p) => [p.id, p]));
  const routedVendors = new Set<string>();
  const routes = [...config.models.filter((m) => isWildcardId(m.id)).map((m) => m.channels[0]?.provider), ...config.providers.filter((p) => p.pass_through).map((p) => p.id)];
  for (const id of routes) {
    const p = id ? providers.get(id) : undefined;
    const vendor = p ? vendorOfProvider(p) : undefined;
    if (vendor) routedVendors.add(vendor);
  }
  for (const e of CATALOGUE.models) marks.set(e.id, byName.has(e.id) ? '*' : routedVendors.has(e.vendor) ? '~' : ' ');
  return marks;
}

const money = (v: number) => (v === 0 ? '0' : String(v));
const tokens = (n: number) => (n >= 1_000_000 && n % 1_000_000 === 0 ? `${n / 1_000_000}M` : n >= 1000 && n % 1000 === 0 ? `${n / 1000}K` : String(n));

function capabilities(e: CatalogueModel): string {
  const c = e.capabilities;
  const out = [c.tools && 'tools', c.vision && 'vision', c.reasoning && 'reasoning', c.json_schema && 'json_schema'].filter(Boolean);
  return (e.kind && e.kind !== 'chat' ? [e.kind, ...out] : out).join(',') || '-';
}

/** The listing's lines: a header, one row per entry (optionally of one vendor), and a legend. */
export function catalogueLines(config: Config, opts: { vendor?: string } = {}): string[] {
  const marks = servedMarks(config);
  const entries = CATALOGUE.models.filter((e) => !opts.vendor || e.vendor === opts.vendor);
  const head = ['', 'model', 'vendor', 'context', 'max out', 'in $/M', 'out $/M', 'cache r', 'cache w', 'checked', 'capabilities'];
  const rows = entries.map((e) => [
    marks.get(e.id) ?? ' ',
    e.id,
    e.vendor,
    tokens(e.context_window),
    tokens(e.max_output_tokens),
    money(e.pricing.input_per_mtok),
    money(e.pricing.output_per_mtok),
    money(e.pricing.cache_read_per_mtok),
    money(e.pricing.cache_write_per_mtok),
    e.prices_checked,
    capabilities(e),
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]))).join('  ').trimEnd();
  const served = rows.filter((r) => r[0] !== ' ').length;
  return [
    line(head),
    ...rows.map(line),
    '',
    `${entries.length} catalogue models, ${served} served by this config (* a configured model, ~ through a wildcard route or pass-through provider).`,
    'Prices in USD per million tokens; sources and how to update them: docs/catalogue.md.',
  ];
}
