// Walks the zod config schema into its documented paths ("server.port",
// "providers[].timeouts.connect_ms"), each with a plain type, nullability and default.
import type { ZodType } from 'zod';

interface Def {
  type: string;
  innerType?: ZodType;
  element?: ZodType;
  valueType?: ZodType;
  options?: ZodType[];
  shape?: Record<string, ZodType>;
  entries?: Record<string, string>;
  values?: unknown[];
  defaultValue?: unknown;
  checks?: Array<{ _zod: { def: { check?: string; format?: string } } }>;
}

export interface SchemaLeaf {
  path: string;
  /** string | integer | number | boolean | enum | list | map | literal | union */
  kind: string;
  /** enum options, literal values */
  options: string[];
  nullable: boolean;
  hasDefault: boolean;
  defaultValue: unknown;
}

const defOf = (s: ZodType): Def => (s as unknown as { def: Def }).def;

function shapeOf(s: ZodType): Record<string, ZodType> | undefined {
  return (s as unknown as { shape?: Record<string, ZodType> }).shape;
}

function isInt(s: ZodType): boolean {
  return (s as unknown as { isInt?: boolean }).isInt === true || (defOf(s).checks ?? []).some((c) => c._zod.def.format === 'safeint' || c._zod.def.format === 'int32');
}

/** Every leaf path of the schema; object-valued paths (and arrays of objects) are descended into, not listed. */
export function schemaLeaves(schema: ZodType, prefix = ''): SchemaLeaf[] {
  let s = schema;
  let nullable = false;
  let hasDefault = false;
  let defaultValue: unknown;
  for (;;) {
    const d = defOf(s);
    if (d.type === 'default' || d.type === 'prefault') {
      if (d.type === 'default' && !hasDefault) {
        hasDefault = true;
        defaultValue = d.defaultValue;
      }
      s = d.innerType as ZodType;
    } else if (d.type === 'optional') s = d.innerType as ZodType;
    else if (d.type === 'nullable') {
      nullable = true;
      s = d.innerType as ZodType;
    } else break;
  }
  const d = defOf(s);
  const leaf = (kind: string, options: string[] = []): SchemaLeaf[] => [{ path: prefix, kind, options, nullable, hasDefault, defaultValue }];
  switch (d.type) {
    case 'object': {
      const out: SchemaLeaf[] = [];
      for (const [k, v] of Object.entries(shapeOf(s) ?? {})) out.push(...schemaLeaves(v, prefix ? `${prefix}.${k}` : k));
      return out;
    }
    case 'array': {
      const el = d.element as ZodType;
      if (defOf(el).type === 'object') return schemaLeaves(el, `${prefix}[]`);
      return leaf('list');
    }
    case 'record':
      return leaf('map');
    case 'enum':
      return leaf('enum', Object.values(d.entries ?? {}).map(String));
    case 'literal':
      return leaf('literal', (d.values ?? []).map(String));
    case 'union': {
      // A union such as `free | {input_per_mtok, ...}` is documented as its own path and its object's fields.
      const out = leaf('union');
      for (const o of d.options ?? []) if (defOf(o).type === 'object') out.push(...schemaLeaves(o, prefix));
      return out;
    }
    case 'number':
      return leaf(isInt(s) ? 'integer' : 'number');
    case 'string':
    case 'boolean':
      return leaf(d.type);
    default:
      return leaf(d.type);
  }
}
