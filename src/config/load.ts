// Reads the YAML config, interpolates ${ENV} references and validates it, reporting
// problems by field path and line so an operator can fix the file without guessing.
import { existsSync, readFileSync } from 'node:fs';
import { isMap, isSeq, LineCounter, parseDocument, type Node as YamlNode } from 'yaml';
import type { ZodError } from 'zod';
import { defaultConfigInput } from './defaults.js';
import { type Config, configSchema } from './schema.js';

export class ConfigError extends Error {
  constructor(
    message: string,
    readonly problems: string[] = [],
  ) {
    super(problems.length > 0 ? `${message}\n${problems.map((p) => `  - ${p}`).join('\n')}` : message);
    this.name = 'ConfigError';
  }
}

export type Env = Record<string, string | undefined>;

const ENV_REF = /\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}/g;

/** Replaces ${NAME} and ${NAME:-default} in every string value. Unset variables become empty, reported by the caller when required. */
export function interpolateEnv(value: unknown, env: Env, missing: Set<string>): unknown {
  if (typeof value === 'string') {
    return value.replace(ENV_REF, (_m, name: string, fallback: string | undefined) => {
      const v = env[name];
      if (v !== undefined && v !== '') return v;
      if (fallback !== undefined) return fallback;
      missing.add(name);
      return '';
    });
  }
  if (Array.isArray(value)) return value.map((v) => interpolateEnv(v, env, missing));
  if (value && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[k] = interpolateEnv(v, env, missing);
    return out;
  }
  return value;
}

/** Drops keys whose value interpolated to an empty string, so optional secrets fall back to defaults. */
function dropEmptyStrings(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(dropEmptyStrings);
  if (value && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) {
      if (v === '') continue;
      out[k] = dropEmptyStrings(v);
    }
    return out;
  }
  return value;
}

function lineOf(doc: ReturnType<typeof parseDocument>, counter: LineCounter, path: PropertyKey[]): number | undefined {
  let node: unknown = doc.contents;
  let lastRange: [number, number, number] | undefined;
  for (const seg of path) {
    if (isMap(node)) {
      const pair = node.items.find((p) => (p.key as { value?: unknown } | null)?.value === seg);
      if (!pair) break;
      node = pair.value ?? pair.key;
      lastRange = ((pair.value ?? pair.key) as YamlNode | null)?.range ?? lastRange;
    } else if (isSeq(node) && typeof seg === 'number') {
      node = node.items[seg];
      lastRange = (node as YamlNode | undefined)?.range ?? lastRange;
    } else break;
  }
  if (!lastRange) return undefined;
  return counter.linePos(lastRange[0]).line;
}

export function formatZodProblems(err: ZodError, locate?: (path: PropertyKey[]) => number | undefined): string[] {
  return err.issues.map((issue) => {
    const path = issue.path.length > 0 ? issue.path.map((p) => (typeof p === 'number' ? `[${p}]` : `.${String(p)}`)).join('').replace(/^\./, '') : '(root)';
    const line = locate?.(issue.path);
    return `${path}${line ? ` (line ${line})` : ''}: ${issue.message}`;
  });
}

/** Cross-field checks zod cannot express: channel providers exist, ids are unique. */
function crossCheck(cfg: Config): string[] {
  const problems: string[] = [];
  const providerIds = new Set<string>();
  cfg.providers.forEach((p, i) => {
    if (providerIds.has(p.id)) problems.push(`providers[${i}].id: duplicate provider id "${p.id}"`);
    providerIds.add(p.id);
    if (p.type === 'azure-openai' && !p.base_url) problems.push(`providers[${i}].base_url: azure-openai needs base_url (https://<resource>.openai.azure.com)`);
  });
  const modelIds = new Set<string>();
  cfg.models.forEach((m, i) => {
    if (modelIds.has(m.id)) problems.push(`models[${i}].id: duplicate model id "${m.id}"`);
    modelIds.add(m.id);
    m.channels.forEach((c, j) => {
      if (!providerIds.has(c.provider)) {
        problems.push(`models[${i}].channels[${j}].provider: unknown provider "${c.provider}" (configured: ${[...providerIds].join(', ') || 'none'})`);
      }
    });
    if (m.max_output_tokens > m.context_window) problems.push(`models[${i}].max_output_tokens: larger than context_window`);
  });
  // An alias must name exactly one model, and never shadow a model's own id.
  const aliasOwner = new Map<string, string>();
  cfg.models.forEach((m, i) => {
    (m.aliases ?? []).forEach((a, j) => {
      const owner = aliasOwner.get(a);
      if (modelIds.has(a)) problems.push(`models[${i}].aliases[${j}]: "${a}" is already the id of a model`);
      else if (owner !== undefined && owner !== m.id) problems.push(`models[${i}].aliases[${j}]: "${a}" is already an alias of "${owner}"`);
      aliasOwner.set(a, m.id);
    });
  });
  return problems;
}

export function parseConfig(text: string, env: Env, source = 'config'): Config {
  const counter = new LineCounter();
  const doc = parseDocument(text, { lineCounter: counter, prettyErrors: true });
  if (doc.errors.length > 0) {
    throw new ConfigError(`${source} is not valid YAML`, doc.errors.map((e) => e.message.split('\n')[0] ?? e.message));
  }
  const raw = doc.toJS() ?? {};
  if (typeof raw !== 'object' || Array.isArray(raw)) throw new ConfigError(`${source} must be a YAML mapping (key: value pairs)`);
  return validateConfig(raw, env, source, (path) => lineOf(doc, counter, path));
}

export function validateConfig(raw: unknown, env: Env, source = 'config', locate?: (path: PropertyKey[]) => number | undefined): Config {
  const missing = new Set<string>();
  const interpolated = dropEmptyStrings(interpolateEnv(raw, env, missing));
  const result = configSchema.safeParse(interpolated);
  if (!result.success) throw new ConfigError(`${source} has invalid settings`, formatZodProblems(result.error, locate));
  const problems = crossCheck(result.data);
  if (problems.length > 0) throw new ConfigError(`${source} has invalid settings`, problems);
  return result.data;
}

export interface LoadedConfig {
  config: Config;
  /** the file read, or undefined for the embedded default */
  path: string | undefined;
}

/** --config, then TOLLGATE_CONFIG, then ./tollgate.yaml if present, else the embedded default. */
export function loadConfig(opts: { path?: string; env: Env }): LoadedConfig {
  const path = opts.path ?? opts.env.TOLLGATE_CONFIG ?? (existsSync('tollgate.yaml') ? 'tollgate.yaml' : undefined);
  if (!path) return { config: validateConfig(defaultConfigInput(opts.env), opts.env, 'embedded default config'), path: undefined };
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new ConfigError(`cannot read config file ${path}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
  }
  return { config: parseConfig(text, opts.env, path), path };
}
