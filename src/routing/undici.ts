// The parts of undici the gateway uses, loaded from their own modules: the package's index also
// loads fetch, WebSocket, the cache and the mocks (about 3 MB of heap and 11 MB of RSS at start),
// none of which the gateway calls. The types still come from the package's declarations.
import { createRequire } from 'node:module';
import type * as Undici from 'undici';

const require = createRequire(import.meta.url);

export const Agent = require('undici/lib/dispatcher/agent.js') as typeof Undici.Agent;
export type Agent = Undici.Agent;
export const buildConnector = require('undici/lib/core/connect.js') as typeof Undici.buildConnector;
export const errors = require('undici/lib/core/errors.js') as typeof Undici.errors;

const requestApi = require('undici/lib/api/api-request.js') as (this: Undici.Dispatcher, opts: unknown) => Promise<Undici.Dispatcher.ResponseData>;

/** `dispatcher.request(options)`: the request API, which the package's index adds to every dispatcher. */
export function request(dispatcher: Undici.Dispatcher, opts: Undici.Dispatcher.RequestOptions): Promise<Undici.Dispatcher.ResponseData> {
  return requestApi.call(dispatcher, opts);
}
