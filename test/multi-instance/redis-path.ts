// A TCP path to Redis that a test can pause (bytes stop flowing both ways, connections stay
// open: Redis looks hung, as under CLIENT PAUSE or a stalled network) or cut (every connection
// dropped, new ones refused), and heal again. Only the gateway behind it is affected, so other
// suites sharing the Redis are not.
import { type AddressInfo, connect, createServer, type Socket } from 'node:net';

export interface RedisPath {
  url: string;
  pause(): void;
  resume(): void;
  /** Drops every connection and refuses new ones until restore(). */
  cut(): Promise<void>;
  restore(): Promise<void>;
  close(): Promise<void>;
}

export async function startRedisPath(targetHost: string, targetPort: number): Promise<RedisPath> {
  const sockets = new Set<Socket>();
  const pairs = new Set<[Socket, Socket]>();
  let paused = false;
  const flow = ([a, b]: [Socket, Socket]) => {
    a.pipe(b);
    b.pipe(a);
  };
  const hold = ([a, b]: [Socket, Socket]) => {
    a.unpipe(b);
    b.unpipe(a);
    a.pause();
    b.pause();
  };
  const server = createServer((client) => {
    const upstream = connect(targetPort, targetHost);
    const pair: [Socket, Socket] = [client, upstream];
    pairs.add(pair);
    for (const s of pair) {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
      s.on('error', () => {});
    }
    client.on('close', () => {
      upstream.destroy();
      pairs.delete(pair);
    });
    upstream.on('close', () => client.destroy());
    if (paused) hold(pair);
    else flow(pair);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const cut = async () => {
    const closed = server.listening ? new Promise<void>((resolve) => server.close(() => resolve())) : Promise.resolve();
    for (const s of sockets) s.destroy();
    await closed;
  };
  return {
    url: `redis://127.0.0.1:${port}`,
    pause() {
      paused = true;
      for (const p of pairs) hold(p);
    },
    resume() {
      paused = false;
      for (const p of pairs) flow(p);
    },
    cut,
    restore: () =>
      new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(port, '127.0.0.1', () => {
          server.off('error', reject);
          resolve();
        });
      }),
    close: cut,
  };
}

export function redisHostPort(url: string): { host: string; port: number } {
  const u = new URL(url);
  return { host: u.hostname, port: Number(u.port || 6379) };
}
