// Responses tools ↔ canonical (Chat Completions) function tools. Function and custom tools,
// also inside `namespace` groups, become functions; built-in tools (web search, file search,
// code interpreter, …) run only at an upstream that speaks Responses itself.
import { GatewayError } from '../../core/errors.js';
import type { ToolChoice, ToolDefinition } from '../../core/types.js';
import type { Json, ToolOrigin } from './types.js';

export interface ConvertedTools {
  tools: ToolDefinition[];
  /** canonical name → the client's tool */
  origins: Map<string, ToolOrigin>;
  /** (namespace or '') + '\u0000' + name → canonical name */
  names: Map<string, string>;
  /** built-in tool types the request declares (only a native upstream can run them) */
  builtins: string[];
}

const isObj = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

export function invalid(param: string, message: string): GatewayError {
  return new GatewayError('invalid_value', message, { param });
}

const key = (namespace: string | undefined, name: string) => `${namespace ?? ''}\u0000${name}`;

/** A freeform (custom) tool is offered to a Chat model as a function taking one string. */
function customAsFunction(name: string, t: Json): ToolDefinition['function'] {
  let description = typeof t.description === 'string' ? t.description : '';
  const format = t.format;
  if (isObj(format) && format.type === 'grammar' && typeof format.definition === 'string') {
    // The model cannot be constrained by the grammar here; it is told it instead.
    description += `${description ? '\n\n' : ''}The input must follow this ${String(format.syntax ?? '')} grammar:\n${format.definition}`;
  }
  return {
    name,
    ...(description ? { description } : {}),
    parameters: { type: 'object', properties: { input: { type: 'string', description: 'The raw input for the tool.' } }, required: ['input'], additionalProperties: false },
  };
}

export function convertTools(raw: unknown): ConvertedTools {
  const out: ConvertedTools = { tools: [], origins: new Map(), names: new Map(), builtins: [] };
  if (raw === undefined || raw === null) return out;
  if (!Array.isArray(raw)) throw invalid('tools', '"tools" must be an array of tool definitions.');
  const add = (t: Json, param: string, namespace: string | undefined) => {
    const kind = t.type;
    if (typeof t.name !== 'string' || t.name === '') throw invalid(`${param}.name`, `${param} needs a "name".`);
    let name = t.name;
    // A name used twice (in two namespaces) gets its namespace in front so calls stay distinguishable.
    if (out.origins.has(name)) name = `${namespace ?? 'tool'}__${t.name}`;
    if (out.origins.has(name)) throw invalid(`${param}.name`, `The tool name "${t.name}" is declared twice.`);
    if (kind === 'function') {
      if (t.parameters !== undefined && t.parameters !== null && !isObj(t.parameters)) throw invalid(`${param}.parameters`, `${param}.parameters must be a JSON schema object.`);
      const fn: ToolDefinition['function'] = { name };
      if (typeof t.description === 'string') fn.description = t.description;
      if (isObj(t.parameters)) fn.parameters = t.parameters;
      if (typeof t.strict === 'boolean') fn.strict = t.strict;
      out.tools.push({ type: 'function', function: fn });
      out.origins.set(name, { kind: 'function', name: t.name, ...(namespace ? { namespace } : {}) });
    } else {
      out.tools.push({ type: 'function', function: customAsFunction(name, t) });
      out.origins.set(name, { kind: 'custom', name: t.name, ...(namespace ? { namespace } : {}) });
    }
    out.names.set(key(namespace, t.name), name);
  };
  raw.forEach((t, i) => {
    const param = `tools[${i}]`;
    if (!isObj(t) || typeof t.type !== 'string') throw invalid(param, `${param} must be an object with a "type".`);
    if (t.type === 'function' || t.type === 'custom') add(t, param, undefined);
    else if (t.type === 'namespace') {
      if (typeof t.name !== 'string' || !Array.isArray(t.tools)) throw invalid(param, `${param} (a namespace) needs a "name" and a "tools" array.`);
      t.tools.forEach((inner, j) => {
        const p = `${param}.tools[${j}]`;
        if (!isObj(inner) || (inner.type !== 'function' && inner.type !== 'custom')) throw invalid(p, `${p} must be a function or custom tool.`);
        add(inner, p, t.name as string);
      });
    } else out.builtins.push(t.type);
  });
  return out;
}

/** The canonical name for a call the client reports (function_call / custom_tool_call items). */
export function canonicalToolName(tools: ConvertedTools, name: string, namespace: unknown): string {
  return tools.names.get(key(typeof namespace === 'string' ? namespace : undefined, name)) ?? name;
}

export interface ConvertedChoice {
  choice: ToolChoice | undefined;
  /** a built-in tool the client forces (native only) */
  builtin?: string;
}

export function convertToolChoice(raw: unknown, tools: ConvertedTools): ConvertedChoice {
  if (raw === undefined || raw === null) return { choice: undefined };
  if (raw === 'none' || raw === 'auto' || raw === 'required') return { choice: raw };
  if (!isObj(raw) || typeof raw.type !== 'string') throw invalid('tool_choice', '"tool_choice" must be "none", "auto", "required" or an object naming a tool.');
  if (raw.type === 'function' || raw.type === 'custom') {
    if (typeof raw.name !== 'string') throw invalid('tool_choice.name', '"tool_choice" names no tool.');
    const name = canonicalToolName(tools, raw.name, undefined);
    if (!tools.origins.has(name)) throw invalid('tool_choice.name', `"tool_choice" names the tool "${raw.name}", which is not in "tools".`);
    return { choice: { type: 'function', function: { name } } };
  }
  if (raw.type === 'allowed_tools') {
    const mode = raw.mode;
    if (mode !== 'auto' && mode !== 'required') throw invalid('tool_choice.mode', '"tool_choice.mode" must be "auto" or "required".');
    return { choice: mode };
  }
  return { choice: undefined, builtin: raw.type };
}
