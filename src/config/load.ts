// Reads the YAML config, interpolates ${ENV} references and validates it, reporting
// problems by field path and line so an operator can fix the file without guessing.
import { existsSync, readFileSync } from 'node:fs';
import { isMap, isSeq, LineCounter, parseDocument, type Node as YamlNode } from 'yaml';
import type { ZodError } from 'zod';
import { expandCatalogueModels } from './catalogue-refs.js';
import { defaultConfigInput } from './defaults.js';
import { knownKeysAt, nearestName } from './suggest.js';
import { type Config, configSchema, isWildcardId, PRICING_HELP } from './schema.js';

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

/** A string in the config that referred to environment variables which are not set. */
export interface UnsetReference {
  /** where, as a path into the config (e.g. ["providers", 0, "api_key"]) */
  path: PropertyKey[];
  names: string[];
  /** the whole value was one reference, so the field is left out (falls back to its default) */
  whole: boolean;
}

/** Replaces ${NAME} and ${NAME:-default} in every string value, recording each reference to an unset variable. */
function interpolate(value: unknown, env: Env, path: PropertyKey[], unset: UnsetReference[]): unknown {
  if (typeof value === 'string') {
    const names: string[] = [];
    const out = value.replace(ENV_REF, (_m, name: string, fallback: string | undefined) => {
      const v = env[name];
      if (v !== undefined && v !== '') return v;
      if (fallback !== undefined) return fallback;
      names.push(name);
      return '';
    });
    if (names.length > 0) unset.push({ path, names, whole: out === '' });
    return out;
  }
  if (Array.isArray(value)) return value.map((v, i) => interpolate(v, env, [...path, i], unset));
  if (value && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[k] = interpolate(v, env, [...path, k], unset);
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

type Locate = (path: PropertyKey[]) => number | undefined;

/** "providers[0].api_key" for ["providers", 0, "api_key"]. */
export function formatPath(path: readonly PropertyKey[]): string {
  if (path.length === 0) return '(root)';
  return path
    .map((p) => (typeof p === 'number' ? `[${p}]` : `.${String(p)}`))
    .join('')
    .replace(/^\./, '');
}

const samePrefix = (a: readonly PropertyKey[], b: readonly PropertyKey[]) => a.length <= b.length && a.every((seg, i) => seg === b[i]);

function problem(path: readonly PropertyKey[], message: string, locate?: Locate): string {
  const line = locate?.([...path]);
  return `${formatPath(path)}${line ? ` (line ${line})` : ''}: ${message}`;
}

type Issue = ZodError['issues'][number];

/** A union's failure is most useful as the failure of the one branch that got past the top level (a bad field inside an object). */
function closestIssues(issue: Issue): Issue[] {
  if (issue.code !== 'invalid_union') return [issue];
  const deep = issue.errors.filter((branch) => branch.some((i) => i.path.length > 0));
  if (deep.length !== 1) return [issue];
  return deep[0].flatMap((i) => closestIssues({ ...i, path: [...issue.path, ...i.path] } as Issue));
}

export function formatZodProblems(err: ZodError, locate?: Locate, unset: readonly UnsetReference[] = []): string[] {
  return err.issues.flatMap(closestIssues).flatMap((issue) => {
    if (issue.code === 'unrecognized_keys') {
      const known = knownKeysAt(configSchema, issue.path);
      return issue.keys.map((key) => {
        const near = nearestName(key, known);
        const hint = near ? `did you mean "${near}"?` : known.length > 0 ? `known settings here: ${known.join(', ')}` : '';
        return problem([...issue.path, key], `unknown setting "${key}"${hint ? `; ${hint}` : ''}`, locate);
      });
    }
    // A value that is missing or empty because its variable is unset: name the variable, not just the field.
    const cause = unset.find((u) => samePrefix(issue.path, u.path) || samePrefix(u.path, issue.path));
    const because = cause ? ` (${cause.names.map((n) => `\${${n}}`).join(', ')} ${cause.names.length > 1 ? 'are' : 'is'} not set)` : '';
    return [problem(issue.path, `${issue.message}${because}`, locate)];
  });
}

/** Cross-field checks zod cannot express: channel providers exist, ids are unique. */
function crossCheck(cfg: Config, locate?: Locate): string[] {
  const problems: string[] = [];
  const providerIds = new Set<string>();
  cfg.providers.forEach((p, i) => {
    if (providerIds.has(p.id)) problems.push(problem(['providers', i, 'id'], `duplicate provider id "${p.id}"`, locate));
    providerIds.add(p.id);
    if (p.type === 'azure-openai' && !p.base_url) problems.push(problem(['providers', i, 'base_url'], 'azure-openai needs base_url (https://<resource>.openai.azure.com)', locate));
  });
  const modelIds = new Set<string>();
  cfg.models.forEach((m, i) => {
    if (modelIds.has(m.id)) problems.push(problem(['models', i, 'id'], `duplicate model id "${m.id}"`, locate));
    modelIds.add(m.id);
    m.channels.forEach((c, j) => {
      if (!providerIds.has(c.provider)) {
        problems.push(problem(['models', i, 'channels', j, 'provider'], `unknown provider "${c.provider}" (configured: ${[...providerIds].join(', ') || 'none'})`, locate));
      }
    });
    if (m.max_output_tokens > m.context_window) problems.push(problem(['models', i, 'max_output_tokens'], 'larger than context_window', locate));
    const fromCatalogue = 'from_catalogue' in m.pricing;
    if (isWildcardId(m.id)) {
      if (m.aliases?.length) problems.push(problem(['models', i, 'aliases'], 'a wildcard route has no aliases: every name it matches is its own model', locate));
    } else if (fromCatalogue) {
      problems.push(problem(['models', i, 'pricing'], `pricing: catalogue is for wildcard routes such as "openai/*"; to take a catalogue entry's prices, write catalogue: ${m.id}`, locate));
    }
  });
  // An alias must name exactly one model, and never shadow a model's own id.
  const aliasOwner = new Map<string, string>();
  cfg.models.forEach((m, i) => {
    (m.aliases ?? []).forEach((a, j) => {
      const owner = aliasOwner.get(a);
      if (modelIds.has(a)) problems.push(problem(['models', i, 'aliases', j], `"${a}" is already the id of a model`, locate));
      else if (owner !== undefined && owner !== m.id) problems.push(problem(['models', i, 'aliases', j], `"${a}" is already an alias of "${owner}"`, locate));
      aliasOwner.set(a, m.id);
    });
  });
  return problems;
}

/** Models with no pricing at all: refused, since a forgotten price would serve for free. */
function unpricedModels(raw: unknown, locate?: Locate): string[] {
  const models = (raw as { models?: unknown } | null)?.models;
  if (!Array.isArray(models)) return [];
  const out: string[] = [];
  models.forEach((m, i) => {
    if (m && typeof m === 'object' && !Array.isArray(m) && (m as Record<string, unknown>).pricing === undefined) {
      const id = (m as Record<string, unknown>).id;
      out.push(problem(['models', i, 'pricing'], `${typeof id === 'string' ? `model "${id}" has no pricing; ` : 'missing; '}${PRICING_HELP}`, locate));
    }
  });
  return out;
}

/** A validated config and what the operator should know about it. */
export interface CheckedConfig {
  config: Config;
  /** references to unset environment variables, in file order */
  unset: UnsetReference[];
  /** one line each, with the field path and line: unset variables left empty */
  warnings: string[];
}

function unsetWarning(u: UnsetReference, locate?: Locate): string {
  const refs = u.names.map((n) => `\${${n}}`).join(', ');
  const field = String(u.path[u.path.length - 1]);
  const what = u.whole ? `so ${field} is left unset` : `so it was replaced by an empty string in ${field}`;
  return problem(u.path, `${refs} ${u.names.length > 1 ? 'are' : 'is'} not set, ${what}`, locate);
}

function check(raw: unknown, env: Env, source: string, locate?: Locate): CheckedConfig {
  const unset: UnsetReference[] = [];
  const expanded = expandCatalogueModels(dropEmptyStrings(interpolate(raw, env, [], unset)));
  if (expanded.problems.length > 0) throw new ConfigError(`${source} has invalid settings`, expanded.problems.map((p) => problem(p.path, p.message, locate)));
  const interpolated = expanded.raw;
  const unpriced = unpricedModels(interpolated, locate);
  const result = configSchema.safeParse(interpolated);
  if (!result.success) throw new ConfigError(`${source} has invalid settings`, [...unpriced, ...formatZodProblems(result.error, locate, unset)]);
  if (unpriced.length > 0) throw new ConfigError(`${source} has invalid settings`, unpriced);
  const problems = crossCheck(result.data, locate);
  if (problems.length > 0) throw new ConfigError(`${source} has invalid settings`, problems);
  // The standard OpenTelemetry variable turns tracing on when the config does not name a collector.
  const otlp = env.OTEL_EXPORTER_OTLP_ENDPOINT;
  if (result.data.telemetry.otlp.endpoint === null && otlp) {
    if (!/^https?:\/\/[^/\s]+/.test(otlp)) throw new ConfigError(`${source} has invalid settings`, [`OTEL_EXPORTER_OTLP_ENDPOINT="${otlp.slice(0, 100)}" is not an http(s) URL`]);
    result.data.telemetry.otlp.endpoint = otlp;
  }
  return { config: result.data, unset, warnings: unset.map((u) => unsetWarning(u, locate)) };
}

function parseText(text: string, env: Env, source: string): CheckedConfig {
  const counter = new LineCounter();
  const doc = parseDocument(text, { lineCounter: counter, prettyErrors: true });
  if (doc.errors.length > 0) {
    throw new ConfigError(`${source} is not valid YAML`, doc.errors.map((e) => e.message.split('\n')[0] ?? e.message));
  }
  const raw = doc.toJS() ?? {};
  if (typeof raw !== 'object' || Array.isArray(raw)) throw new ConfigError(`${source} must be a YAML mapping (key: value pairs)`);
  return check(raw, env, source, (path) => lineOf(doc, counter, path));
}

export function parseConfig(text: string, env: Env, source = 'config'): Config {
  return parseText(text, env, source).config;
}

/** Like parseConfig, and also says which environment variables the file refers to but are unset. */
export function parseConfigWithWarnings(text: string, env: Env, source = 'config'): CheckedConfig {
  return parseText(text, env, source);
}

export function validateConfig(raw: unknown, env: Env, source = 'config', locate?: Locate): Config {
  return check(raw, env, source, locate).config;
}

export interface LoadedConfig extends CheckedConfig {
  /** the file read, or undefined for the embedded default */
  path: string | undefined;
}

/** --config, then TOLLGATE_CONFIG, then ./tollgate.yaml if present, else the embedded default. */
export function loadConfig(opts: { path?: string; env: Env }): LoadedConfig {
  // An empty TOLLGATE_CONFIG (a compose file passing through an unset variable) names no file.
  const path = opts.path ?? (opts.env.TOLLGATE_CONFIG || undefined) ?? (existsSync('tollgate.yaml') ? 'tollgate.yaml' : undefined);
  if (!path) return { ...check(defaultConfigInput(opts.env), opts.env, 'embedded default config'), path: undefined };
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    // Say where the name came from: a TOLLGATE_CONFIG left set in the shell is easy to forget.
    const from = opts.path !== undefined ? '' : opts.env.TOLLGATE_CONFIG ? ' (named by TOLLGATE_CONFIG)' : '';
    if (code === 'ENOENT') throw new ConfigError(`config file ${path}${from} does not exist; write one with: tollgate init --config ${path}`);
    throw new ConfigError(`cannot read config file ${path}${from}: ${code ?? String(err)}`);
  }
  return { ...parseText(text, opts.env, path), path };
}
