// Turns the Authorization / x-api-key header into an authenticated org and key, with the
// exact SPEC §7 code and a message saying what is wrong. Reads only the in-memory view.
import { GatewayError } from '../core/errors.js';
import type { KeyKind, KeyRow, OrgRow } from '../store/types.js';
import type { TenantView } from '../tenants/view.js';
import { checkKeyShape, KEY_PREFIXES, sameSecret } from './keys.js';

export interface AuthHeaders {
  authorization?: string;
  xApiKey?: string;
}

export interface Principal {
  org: OrgRow;
  key: KeyRow;
}

const KIND_NAMES: Record<KeyKind, string> = { sk: 'an inference key (sk-tg-…)', mk: 'a management key (mk-tg-…)' };

/** Extracts the credential, rejecting malformed headers with a precise message. */
export function extractCredential(h: AuthHeaders): string {
  const { authorization, xApiKey } = h;
  if (authorization !== undefined && authorization !== '') {
    const m = /^Bearer (.*)$/is.exec(authorization);
    if (!m) {
      throw new GatewayError('invalid_api_key', 'The Authorization header is malformed: send "Authorization: Bearer <key>".');
    }
    const token = m[1];
    if (token === '') throw new GatewayError('invalid_api_key', 'The Authorization header has "Bearer" but no key after it.');
    if (token.trim() !== token) throw new GatewayError('invalid_api_key', 'The API key has surrounding whitespace; send the key exactly, with no spaces or line breaks around it.');
    return token;
  }
  if (xApiKey !== undefined && xApiKey !== '') {
    if (xApiKey.trim() !== xApiKey) throw new GatewayError('invalid_api_key', 'The API key has surrounding whitespace; send the key exactly, with no spaces or line breaks around it.');
    return xApiKey;
  }
  throw new GatewayError('missing_api_key', 'No API key: send "Authorization: Bearer <key>" (or an "x-api-key" header).');
}

export function authenticateKey(view: TenantView, h: AuthHeaders, accept: readonly KeyKind[], now = Date.now()): Principal {
  const token = extractCredential(h);
  // A token whose hash is remembered and names an issued key is that key, so it has the shape
  // and checksum of one: the checks below run only for tokens not seen before or not issued.
  let hash = view.cachedHashOf(token);
  let key = hash === undefined ? undefined : view.keyByHash(hash);
  let kind: KeyKind;
  if (hash !== undefined && key !== undefined) kind = token.startsWith(KEY_PREFIXES.mk) ? 'mk' : 'sk';
  else {
    if (/\s/.test(token)) throw new GatewayError('invalid_api_key', 'The API key contains whitespace; send the key exactly as it was issued.');
    const shape = checkKeyShape(token);
    if (!shape.ok) {
      throw new GatewayError(
        'invalid_api_key',
        shape.reason === 'checksum'
          ? 'The API key has a bad checksum: it was mistyped or truncated. Copy the whole key again.'
          : 'The API key is malformed: Tollgate keys look like sk-tg-… (inference) or mk-tg-… (management).',
      );
    }
    kind = shape.kind;
    hash = view.hashOf(token);
    key = view.keyByHash(hash);
  }
  // The view finds keys by their hash, so a key found is the token's key.
  if (!key || key.hash !== hash) throw new GatewayError('invalid_api_key', 'The API key is not known to this gateway. Check that you copied the right key.');
  if (key.revoked_at !== null) throw new GatewayError('invalid_api_key', 'The API key has been revoked. Create a new key.');
  if (key.expires_at !== null && key.expires_at <= now) {
    throw new GatewayError('expired_api_key', `The API key expired at ${new Date(key.expires_at).toISOString()}. Use its replacement or create a new key.`);
  }
  if (!accept.includes(kind)) {
    throw new GatewayError('wrong_key_type', `This route needs ${accept.map((k) => KIND_NAMES[k]).join(' or ')}, but ${KIND_NAMES[kind]} was sent.`);
  }
  const org = view.org(key.org_id);
  if (!org) throw new GatewayError('invalid_api_key', 'The API key is not known to this gateway. Check that you copied the right key.');
  if (key.disabled) throw new GatewayError('key_disabled', 'This key is disabled. An org admin can re-enable it with PATCH /api/keys/{id} {"disabled": false}.');
  if (org.disabled) throw new GatewayError('org_disabled', 'This organisation is disabled. Contact the gateway operator.');
  return { org, key };
}

/**
 * authenticateKey, except that the operator's admin token sent where a key is needed is named
 * as such (with the credential the route takes) instead of being called malformed. The extra
 * check runs only on the failure path.
 */
export function authenticateKeyOrExplain(view: TenantView, adminToken: string | undefined, h: AuthHeaders, accept: readonly KeyKind[]): Principal {
  try {
    return authenticateKey(view, h, accept);
  } catch (err) {
    if (adminToken && err instanceof GatewayError && err.code === 'invalid_api_key' && sameSecret(extractCredential(h), adminToken)) {
      const mint = accept.includes('mk') ? 'tollgate key create --org NAME --management' : 'tollgate key create --org NAME';
      throw new GatewayError(
        'wrong_key_type',
        `That is the operator's admin token, which is for /admin/* only. This route needs ${accept.map((k) => KIND_NAMES[k]).join(' or ')} of an organisation. As the operator, mint one with POST /admin/orgs/{id}/keys or: ${mint}.`,
      );
    }
    throw err;
  }
}

export function authenticateAdmin(adminToken: string | undefined, h: AuthHeaders): void {
  const token = extractCredential(h);
  if (!adminToken) throw new GatewayError('invalid_api_key', 'Admin routes are disabled: the operator has not set an admin token (TOLLGATE_ADMIN_TOKEN).');
  if (token.startsWith('sk-tg-') || token.startsWith('mk-tg-')) {
    throw new GatewayError('wrong_key_type', 'Admin routes need the operator admin token, not an API key.');
  }
  if (!sameSecret(token, adminToken)) throw new GatewayError('invalid_api_key', 'The admin token is not valid.');
}
