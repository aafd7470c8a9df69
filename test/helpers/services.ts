// What a suite does when a service it needs (Postgres, Redis, Chromium) is missing: on a
// laptop it skips with a message; under CI=true it fails, so CI can never pass by skipping.

export type ServiceEnv = Readonly<Record<string, string | undefined>>;

export function isCi(env: ServiceEnv = process.env): boolean {
  const v = env.CI?.trim().toLowerCase();
  return v !== undefined && v !== '' && v !== 'false' && v !== '0';
}

/**
 * Reports a missing service. Under CI it throws (a suite that awaits it at load fails, one that
 * calls it in beforeAll fails every test); elsewhere it prints why the suite skips and returns.
 */
export function serviceMissing(service: string, detail: string, purpose: string, env: ServiceEnv = process.env): void {
  const what = `${service} not available (${detail})`;
  if (isCi(env)) throw new Error(`${what}: CI=true, so ${purpose} must run; start ${service} before the tests.`);
  console.log(`${what}: skipping ${purpose}`);
}
