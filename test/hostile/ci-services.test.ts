// CI cannot pass by skipping: under CI=true a suite whose Postgres, Redis or Chromium is
// missing fails; on a laptop it skips with a message.
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { serviceMissing } from '../helpers/services.js';
import { closedPort, isRedisReachable } from '../limits/redis-test-support.js';
import { freshPostgresSchema } from '../store/pg.js';

afterEach(() => {
  vi.unstubAllEnvs();
  vi.restoreAllMocks();
});

describe('a missing service under CI=true fails the suite', () => {
  it('serviceMissing throws naming the service when CI=true', () => {
    expect(() => serviceMissing('Redis', 'no answer at redis://127.0.0.1:1', 'the limiter tests', { CI: 'true' })).toThrow(/Redis not available .*CI=true/);
  });

  it('isRedisReachable rejects for a Redis that does not answer', async () => {
    vi.stubEnv('CI', 'true');
    await expect(isRedisReachable(`redis://127.0.0.1:${await closedPort()}`)).rejects.toThrow(/Redis not available/);
  });

  it('freshPostgresSchema rejects for a Postgres that does not answer', async () => {
    vi.stubEnv('CI', 'true');
    vi.stubEnv('TOLLGATE_TEST_POSTGRES_URL', `postgres://postgres@127.0.0.1:${await closedPort()}/test`);
    await expect(freshPostgresSchema('the store contract')).rejects.toThrow(/Postgres not available/);
  });
});

describe('a missing service on a laptop skips with a message', () => {
  it('isRedisReachable answers false and says why', async () => {
    vi.stubEnv('CI', '');
    const log = vi.spyOn(console, 'log').mockImplementation(() => undefined);
    expect(await isRedisReachable(`redis://127.0.0.1:${await closedPort()}`)).toBe(false);
    expect(log.mock.calls.flat().join(' ')).toMatch(/Redis not available .*skipping/);
  });

  it('freshPostgresSchema answers undefined and says why', async () => {
    vi.stubEnv('CI', 'false');
    vi.stubEnv('TOLLGATE_TEST_POSTGRES_URL', `postgres://postgres@127.0.0.1:${await closedPort()}/test`);
    const log = vi.spyOn(console, 'log').mockImplementation(() => undefined);
    expect(await freshPostgresSchema('the store contract')).toBeUndefined();
    expect(log.mock.calls.flat().join(' ')).toMatch(/Postgres not available .*skipping the store contract/);
  });
});

describe('.ci/run starts the services or stops', () => {
  const script = readFileSync(resolve(import.meta.dirname, '../../.ci/run'), 'utf8');
  it('never ignores a failed service start with || true', () => {
    expect(script).not.toMatch(/\|\|\s*true/);
  });
  it('runs the tests with CI=true', () => {
    expect(script).toMatch(/export CI="\$\{CI:-true\}"/);
  });
});
