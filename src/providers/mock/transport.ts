// In-process transport for the mock provider: the same handler as the standalone mock
// server, without a socket, honouring the provider's first-byte and idle timeouts.
import type { ProviderConfig } from '../../config/schema.js';
import { GatewayError } from '../../core/errors.js';
import type { Transport, UpstreamResponse } from '../../routing/transport.js';
import { handleMockRequest, MockResetError } from './server.js';
import type { RequestSignal } from '../../core/request-signal.js';

const enc = new TextEncoder();

function timeoutAfter(ms: number, message: string, signal: RequestSignal, channelFault = true): { promise: Promise<never>; cancel(): void } {
  let timer: NodeJS.Timeout | undefined;
  const promise = new Promise<never>((_r, reject) => {
    timer = setTimeout(() => reject(new GatewayError('timeout', message, channelFault ? { retryable: true, blame: 'channel' } : {})), ms);
    timer.unref();
  });
  promise.catch(() => {});
  const onAbort = () => clearTimeout(timer);
  signal.addEventListener('abort', onAbort, { once: true });
  // Removing the listener matters: one timeout is armed per stream chunk on the same signal.
  return {
    promise,
    cancel: () => {
      clearTimeout(timer);
      signal.removeEventListener('abort', onAbort);
    },
  };
}

export function createMockTransport(provider: ProviderConfig): Transport {
  const settings = { tokensPerSecond: provider.tokens_per_second, faults: provider.faults, memo: new Map() };
  const { first_byte_ms, idle_ms } = provider.timeouts;
  return {
    async send(req, signal): Promise<UpstreamResponse> {
      // The mock's own abort: fired by the client's signal or by our timeouts.
      const inner = new AbortController();
      const onAbort = () => inner.abort(signal.reason);
      signal.addEventListener('abort', onAbort, { once: true });
      const url = new URL(req.url);
      let raw: Buffer | undefined;
      if (req.bodyStream) {
        const parts: Buffer[] = [];
        for await (const c of req.bodyStream()) parts.push(Buffer.from(c));
        raw = Buffer.concat(parts);
      }
      // As with the HTTP transport, a non-stream request waits for its whole answer (its own long generation).
      const first =
        req.timeoutMs !== undefined
          ? timeoutAfter(req.timeoutMs, `The provider (${provider.id}) did not finish the answer within ${Math.round(req.timeoutMs / 1000)} s. Ask for fewer output tokens, or stream the answer.`, inner.signal, false)
          : timeoutAfter(first_byte_ms, `The provider (${provider.id}) did not start answering in time.`, inner.signal);
      let reply: Awaited<ReturnType<typeof handleMockRequest>>;
      try {
        reply = await Promise.race([
          handleMockRequest({ method: req.method, path: url.pathname + url.search, headers: req.headers, body: req.body ?? '', raw }, settings, inner.signal),
          first.promise,
        ]);
      } catch (err) {
        inner.abort(err);
        signal.removeEventListener('abort', onAbort);
        throw err;
      } finally {
        first.cancel();
      }
      const body = reply.body;
      const iterable: AsyncIterable<Uint8Array> =
        typeof body === 'string'
          ? (async function* () {
              yield enc.encode(body);
            })()
          : (async function* () {
              const it = body[Symbol.asyncIterator]();
              try {
                for (;;) {
                  const idle = timeoutAfter(idle_ms, `The provider (${provider.id}) stopped sending data (idle timeout).`, inner.signal);
                  let step: IteratorResult<Uint8Array>;
                  try {
                    step = await Promise.race([it.next(), idle.promise]);
                  } finally {
                    idle.cancel();
                  }
                  if (step.done) return;
                  yield step.value;
                }
              } catch (err) {
                if (err instanceof MockResetError) {
                  throw new GatewayError('provider_error', `The connection to the provider (${provider.id}) failed (ECONNRESET).`, { retryable: true, blame: 'channel', cause: err });
                }
                throw err;
              } finally {
                inner.abort();
                signal.removeEventListener('abort', onAbort);
                await it.return?.(undefined);
              }
            })();
      return { status: reply.status, headers: reply.headers, body: iterable, discard: () => inner.abort() };
    },
    close: async () => {},
  };
}
