// Shared Redis plumbing for the limiter tests: reachability probe, isolated key prefix, cleanup.
import { randomUUID } from 'node:crypto';
import { rmSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { Redis } from 'ioredis';
import { createLimiterRedisClient, waitUntilReady } from '../../src/limits/index.js';
import { serviceMissing } from '../helpers/services.js';

export const TEST_REDIS_URL = process.env.TOLLGATE_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';

/** Whether a suite's Redis answers; under CI=true a missing Redis throws instead (see test/helpers/services.ts). */
export async function isRedisReachable(url: string = TEST_REDIS_URL): Promise<boolean> {
  const up = await pingRedis(url);
  if (!up) serviceMissing('Redis', `no answer at ${url}`, 'the tests that need it');
  return up;
}

export async function pingRedis(url: string = TEST_REDIS_URL): Promise<boolean> {
  const probe = new Redis(url, {
    lazyConnect: true,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    connectTimeout: 500,
    retryStrategy: () => null,
  });
  probe.on('error', () => {});
  try {
    await probe.connect();
    return (await probe.ping()) === 'PONG';
  } catch {
    return false;
  } finally {
    probe.disconnect();
  }
}

export function freshPrefix(): string {
  return `tollgate-test:${randomUUID()}:`;
}

export async function connectTestClient(): Promise<Redis> {
  const client = createLimiterRedisClient(TEST_REDIS_URL);
  if (!(await waitUntilReady(client, 2_000))) {
    client.disconnect();
    throw new Error(`Redis at ${TEST_REDIS_URL} did not become ready`);
  }
  return client;
}

export async function deleteKeys(client: Redis, prefix: string): Promise<number> {
  let cursor = '0';
  let deleted = 0;
  do {
    const [next, keys] = await client.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 500);
    cursor = next;
    if (keys.length > 0) deleted += await client.del(...keys);
  } while (cursor !== '0');
  return deleted;
}

/** A TCP port nothing listens on: bound, then released. */
export async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** A server that accepts connections and never answers: a hung Redis. */
export async function silentServer(): Promise<{ port: number; close: () => Promise<void> }> {
  const sockets = new Set<import('node:net').Socket>();
  const server: Server = createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  return {
    port,
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** Teardown of a suite that runs gateways sharing one Redis prefix and one temp directory. */
export async function closeSharedRedisSuite(parts: {
  gateways: Array<{ close(): Promise<void> } | undefined>;
  redis: Redis | undefined;
  prefix: string;
  dir: string | undefined;
}): Promise<void> {
  for (const g of parts.gateways) await g?.close();
  if (parts.redis) {
    await deleteKeys(parts.redis, parts.prefix);
    parts.redis.disconnect();
  }
  if (parts.dir) rmSync(parts.dir, { recursive: true, force: true });
}
