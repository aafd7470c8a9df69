// How a storage URL (SPEC §8 `storage.url`) chooses the dialect and, for SQLite, the file.
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { openStore, parseStorageUrl } from '../../src/store/index.js';
import { makeOrg } from './fixtures.js';

describe('storage url', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tollgate-url-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('resolves a relative SQLite path against the working directory', () => {
    expect(parseStorageUrl('sqlite://./data/tollgate.db', '/srv/app')).toEqual({
      dialect: 'sqlite',
      path: '/srv/app/data/tollgate.db',
    });
    expect(parseStorageUrl('sqlite:data/x.db', '/srv/app')).toEqual({ dialect: 'sqlite', path: '/srv/app/data/x.db' });
  });

  it('keeps an absolute SQLite path and recognises :memory:', () => {
    expect(parseStorageUrl('sqlite:///var/lib/tollgate.db')).toEqual({ dialect: 'sqlite', path: '/var/lib/tollgate.db' });
    expect(parseStorageUrl('sqlite://:memory:')).toEqual({ dialect: 'sqlite', path: ':memory:' });
  });

  it('passes Postgres URLs through under both schemes', () => {
    for (const url of ['postgres://u:p@h:5432/db', 'postgresql://h/db?sslmode=require']) {
      expect(parseStorageUrl(url)).toEqual({ dialect: 'postgres', url });
    }
  });

  it('rejects other schemes and an empty SQLite path, naming the accepted forms', () => {
    expect(() => parseStorageUrl('mysql://h/db')).toThrow(/sqlite:\/\/ or postgres:\/\//);
    expect(() => parseStorageUrl('sqlite://')).toThrow(/names no file/);
  });

  it('creates the directory of a new SQLite file', async () => {
    const file = join(dir, 'nested', 'deeper', 'tollgate.db');
    const store = await openStore(`sqlite://${file}`);
    await store.migrate();
    expect(existsSync(file)).toBe(true);
    await store.close();
  });

  it('names the file when SQLite cannot open it, and what to do', async () => {
    const taken = join(dir, 'a-directory.db');
    mkdirSync(taken);
    await expect(openStore(`sqlite://${taken}`)).rejects.toThrow(`cannot open the SQLite database ${taken}: unable to open database file; that is a directory`);
    const notDb = join(dir, 'not-a-database.db');
    writeFileSync(notDb, 'x'.repeat(4096));
    await expect(openStore(`sqlite://${notDb}`)).rejects.toThrow(`cannot open the SQLite database ${notDb}: file is not a database`);
    await expect(openStore(`sqlite://${notDb}`)).rejects.toMatchObject({ code: 'SQLITE_NOTADB' });
  });

  it('runs a whole store in memory', async () => {
    const store = await openStore('sqlite://:memory:');
    await store.migrate();
    const org = makeOrg();
    await store.insertOrg(org);
    await expect(store.getOrg(org.id)).resolves.toEqual(org);
    await store.close();
    await store.close();
  });

  it('refuses a schema option for SQLite and an unsafe schema name for Postgres', async () => {
    await expect(openStore('sqlite://:memory:', { schema: 'x' })).rejects.toThrow(/Postgres only/);
    await expect(openStore('postgres://h/db', { schema: 'x"; drop table y' })).rejects.toThrow(/identifier/);
  });
});
