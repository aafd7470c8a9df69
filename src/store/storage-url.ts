// How a storage URL chooses the dialect and, for SQLite, the file. Apart from dialect.ts, and
// free of drivers, so the config schema can refuse a bad URL without loading Kysely or SQLite.
import { isAbsolute, resolve } from 'node:path';

export const SQLITE_MEMORY = ':memory:';

export type StorageTarget = { dialect: 'sqlite'; path: string } | { dialect: 'postgres'; url: string };

/** `sqlite://./rel/path`, `sqlite:///abs/path`, `sqlite://:memory:`, `postgres://…`, `postgresql://…` */
export function parseStorageUrl(url: string, cwd = process.cwd()): StorageTarget {
  if (url.startsWith('postgres://') || url.startsWith('postgresql://')) return { dialect: 'postgres', url };
  if (url.startsWith('sqlite:')) {
    let rest = url.slice('sqlite:'.length);
    if (rest.startsWith('//')) rest = rest.slice(2);
    const q = rest.indexOf('?');
    if (q >= 0) rest = rest.slice(0, q);
    if (rest === '') throw new Error(`storage url "${url}" names no file: use sqlite://./data/tollgate.db`);
    if (rest === SQLITE_MEMORY) return { dialect: 'sqlite', path: SQLITE_MEMORY };
    return { dialect: 'sqlite', path: isAbsolute(rest) ? rest : resolve(cwd, rest) };
  }
  throw new Error(`storage url must start with sqlite:// or postgres:// (got "${url.split(':')[0]}:")`);
}
