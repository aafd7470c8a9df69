// "Did you mean": the settings the schema accepts at a place in the config, and the known
// name nearest to a misspelt one, so a typo such as base_ulr points at base_url.
import type { ZodType } from 'zod';

/** The parts of a zod definition this walk reads (zod 4 keeps them on `_zod.def`). */
interface Def {
  type: string;
  shape?: Record<string, ZodType>;
  innerType?: ZodType;
  element?: ZodType;
  valueType?: ZodType;
  options?: ZodType[];
  in?: ZodType;
  out?: ZodType;
}

const defOf = (s: ZodType): Def => (s as unknown as { _zod: { def: Def } })._zod.def;

/** Object schemas reachable from `s` without descending into a field. */
function objectsOf(s: ZodType): Def[] {
  const d = defOf(s);
  switch (d.type) {
    case 'object':
      return [d];
    case 'default':
    case 'prefault':
    case 'optional':
    case 'nullable':
    case 'readonly':
    case 'catch':
      return d.innerType ? objectsOf(d.innerType) : [];
    case 'pipe':
      return [...(d.in ? objectsOf(d.in) : []), ...(d.out ? objectsOf(d.out) : [])];
    case 'union':
      return (d.options ?? []).flatMap(objectsOf);
    default:
      return [];
  }
}

function childOf(s: ZodType, seg: PropertyKey): ZodType[] {
  const d = defOf(s);
  switch (d.type) {
    case 'object':
      return typeof seg === 'string' && d.shape?.[seg] ? [d.shape[seg]] : [];
    case 'array':
      return typeof seg === 'number' && d.element ? [d.element] : [];
    case 'record':
      return d.valueType ? [d.valueType] : [];
    case 'default':
    case 'prefault':
    case 'optional':
    case 'nullable':
    case 'readonly':
    case 'catch':
      return d.innerType ? childOf(d.innerType, seg) : [];
    case 'pipe':
      return [...(d.in ? childOf(d.in, seg) : []), ...(d.out ? childOf(d.out, seg) : [])];
    case 'union':
      return (d.options ?? []).flatMap((o) => childOf(o, seg));
    default:
      return [];
  }
}

/** Field names the schema accepts in the object at `path`. */
export function knownKeysAt(root: ZodType, path: readonly PropertyKey[]): string[] {
  let here: ZodType[] = [root];
  for (const seg of path) here = here.flatMap((s) => childOf(s, seg));
  const keys = new Set<string>();
  for (const obj of here.flatMap(objectsOf)) for (const k of Object.keys(obj.shape ?? {})) keys.add(k);
  return [...keys];
}

/** Edits (insert, delete, replace, swap two neighbours) turning `a` into `b`. */
function editDistance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) => Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)));
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      d[i][j] = Math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d[i][j] = Math.min(d[i][j], d[i - 2][j - 2] + 1);
    }
  }
  return d[a.length][b.length];
}

/** The known name closest to `name`, if it is close enough to be a typo of it. */
export function nearestName(name: string, known: readonly string[]): string | undefined {
  const lower = name.toLowerCase();
  let best: { name: string; d: number } | undefined;
  for (const k of known) {
    const d = editDistance(lower, k.toLowerCase());
    if (!best || d < best.d) best = { name: k, d };
  }
  if (!best) return undefined;
  return best.d <= Math.max(1, Math.floor(best.name.length / 3)) ? best.name : undefined;
}
