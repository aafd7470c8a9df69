// Local endpoints for alert delivery tests: a webhook receiver on port 0 that records each POST
// (and answers with scripted statuses), and a tiny SMTP sink on port 0 speaking just enough
// SMTP (EHLO/HELO, MAIL, RCPT, DATA, RSET, NOOP, QUIT) for nodemailer to hand it a message.
import { createServer as createHttpServer, type IncomingHttpHeaders } from 'node:http';
import { type AddressInfo, createServer as createTcpServer, type Socket } from 'node:net';

export interface Delivery {
  path: string;
  headers: IncomingHttpHeaders;
  /** the raw body, exactly as signed */
  raw: string;
  json: { id: string; type: string; org_id: string; created_at: string; data: Record<string, unknown> };
  /** the status the receiver answered */
  answered: number;
  at: number;
}

export interface WebhookReceiver {
  url: string;
  deliveries: Delivery[];
  /** Statuses for the next POSTs to `path` (then 200). */
  respond(path: string, ...statuses: number[]): void;
  /** Resolves once `predicate` holds for the deliveries so far. */
  waitFor(predicate: (d: Delivery[]) => boolean, what: string, ms?: number): Promise<void>;
  close(): Promise<void>;
}

export async function startWebhookReceiver(): Promise<WebhookReceiver> {
  const deliveries: Delivery[] = [];
  const queues = new Map<string, number[]>();
  const waiters: Array<{ predicate: (d: Delivery[]) => boolean; resolve(): void }> = [];
  const server = createHttpServer((req, res) => {
    const parts: Buffer[] = [];
    req.on('data', (c: Buffer) => parts.push(c));
    req.on('end', () => {
      const raw = Buffer.concat(parts).toString('utf8');
      const path = req.url ?? '/';
      const status = queues.get(path)?.shift() ?? 200;
      let json: Delivery['json'];
      try {
        json = JSON.parse(raw) as Delivery['json'];
      } catch {
        json = { id: '', type: '(not json)', org_id: '', created_at: '', data: {} };
      }
      deliveries.push({ path, headers: req.headers, raw, json, answered: status, at: Date.now() });
      res.writeHead(status, { 'content-type': 'text/plain' });
      res.end(status < 300 ? 'ok' : 'receiver failure');
      for (let i = waiters.length - 1; i >= 0; i--) {
        if (waiters[i].predicate(deliveries)) {
          waiters[i].resolve();
          waiters.splice(i, 1);
        }
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    deliveries,
    respond(path, ...statuses) {
      queues.set(path, [...(queues.get(path) ?? []), ...statuses]);
    },
    waitFor(predicate, what, ms = 10_000) {
      if (predicate(deliveries)) return Promise.resolve();
      return new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}; received: ${deliveries.map((d) => `${d.path} ${d.json.type}`).join(', ')}`)), ms);
        waiters.push({
          predicate,
          resolve: () => {
            clearTimeout(timer);
            resolve();
          },
        });
      });
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

export interface Mail {
  from: string;
  to: string[];
  data: string;
}

export interface SmtpSink {
  port: number;
  mails: Mail[];
  waitForMail(n: number, ms?: number): Promise<void>;
  close(): Promise<void>;
}

export async function startSmtpSink(): Promise<SmtpSink> {
  const mails: Mail[] = [];
  const sockets = new Set<Socket>();
  const waiters: Array<{ n: number; resolve(): void }> = [];
  const server = createTcpServer((sock) => {
    sockets.add(sock);
    sock.on('close', () => sockets.delete(sock));
    sock.on('error', () => {});
    sock.setEncoding('utf8');
    sock.write('220 tollgate-test-sink ESMTP\r\n');
    let buf = '';
    let inData = false;
    let current: Mail = { from: '', to: [], data: '' };
    sock.on('data', (chunk: string) => {
      buf += chunk;
      for (;;) {
        if (inData) {
          const end = buf.indexOf('\r\n.\r\n');
          if (end === -1) return;
          current.data = buf.slice(0, end);
          buf = buf.slice(end + 5);
          inData = false;
          mails.push(current);
          current = { from: '', to: [], data: '' };
          sock.write('250 OK: queued\r\n');
          for (let i = waiters.length - 1; i >= 0; i--) {
            if (mails.length >= waiters[i].n) {
              waiters[i].resolve();
              waiters.splice(i, 1);
            }
          }
          continue;
        }
        const nl = buf.indexOf('\r\n');
        if (nl === -1) return;
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 2);
        const verb = line.split(' ')[0].toUpperCase();
        if (verb === 'EHLO' || verb === 'HELO') sock.write('250 tollgate-test-sink\r\n');
        else if (verb === 'MAIL') {
          current = { from: line.slice(line.indexOf(':') + 1).trim(), to: [], data: '' };
          sock.write('250 OK\r\n');
        } else if (verb === 'RCPT') {
          current.to.push(line.slice(line.indexOf(':') + 1).trim());
          sock.write('250 OK\r\n');
        } else if (verb === 'DATA') {
          inData = true;
          sock.write('354 End data with <CR><LF>.<CR><LF>\r\n');
        } else if (verb === 'RSET' || verb === 'NOOP') sock.write('250 OK\r\n');
        else if (verb === 'QUIT') {
          sock.end('221 Bye\r\n');
          return;
        } else sock.write('502 Command not implemented\r\n');
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    port,
    mails,
    waitForMail(n, ms = 10_000) {
      if (mails.length >= n) return Promise.resolve();
      return new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`the SMTP sink got ${mails.length} of ${n} mails within ${ms} ms`)), ms);
        waiters.push({
          n,
          resolve: () => {
            clearTimeout(timer);
            resolve();
          },
        });
      });
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}
