// The parts of undici the gateway uses, loaded from their own modules and only on first use: the
// package's index also loads fetch, WebSocket, the cache and the mocks (about 3 MB of heap and
// 11 MB of RSS at start), none of which the gateway calls, and a gateway whose upstreams all speak
// HTTP/1.1 (h1-client.ts), that sends no webhook and takes no audio upload never loads undici at
// all. The types still come from the package's declarations.
import { createRequire } from 'node:module';
import type * as Undici from 'undici';

const require = createRequire(import.meta.url);

type RequestApi = (this: Undici.Dispatcher, opts: unknown) => Promise<Undici.Dispatcher.ResponseData>;

export type Agent = Undici.Agent;

export interface UndiciParts {
  Agent: typeof Undici.Agent;
  buildConnector: typeof Undici.buildConnector;
}

let parts: (UndiciParts & { request: RequestApi }) | undefined;

/** undici's agent and connector, loaded at the first call. */
export function undici(): UndiciParts {
  parts ??= {
    Agent: require('undici/lib/dispatcher/agent.js') as typeof Undici.Agent,
    buildConnector: require('undici/lib/core/connect.js') as typeof Undici.buildConnector,
    request: require('undici/lib/api/api-request.js') as RequestApi,
  };
  return parts;
}

/** `dispatcher.request(options)`: the request API, which the package's index adds to every dispatcher. */
export function request(dispatcher: Undici.Dispatcher, opts: Undici.Dispatcher.RequestOptions): Promise<Undici.Dispatcher.ResponseData> {
  undici();
  return parts!.request.call(dispatcher, opts);
}
