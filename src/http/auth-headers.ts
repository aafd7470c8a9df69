// The credential headers of a request, as the authenticator reads them.
import type { IncomingHttpHeaders } from 'node:http';
import type { AuthHeaders } from '../auth/authenticate.js';

export function authHeaders(req: { headers: IncomingHttpHeaders }): AuthHeaders {
  const h = req.headers;
  const xApiKey = h['x-api-key'];
  return { authorization: h.authorization, xApiKey: Array.isArray(xApiKey) ? xApiKey[0] : xApiKey };
}
