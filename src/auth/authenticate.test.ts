// Authentication answers a key seen before exactly as it answered it the first time: the
// remembered hash skips only the shape checks, never the state of the key or its org.
import { describe, expect, it } from 'vitest';
import type { KeyKind, KeyRow, OrgRow } from '../store/types.js';
import { TenantView } from '../tenants/view.js';
import { authenticateKey } from './authenticate.js';
import { generateKey, hashKey } from './keys.js';

const NOW = 1_700_000_000_000;

function org(): OrgRow {
  return { id: 'org_1', name: 'acme', disabled: false, allowed_models: null, spend_cap_micros: null, fallbacks: {}, rpm: null, tpm: null, settings: {}, created_at: NOW, updated_at: NOW };
}

function keyRow(token: string, kind: KeyKind, id: string): KeyRow {
  return {
    id,
    org_id: 'org_1',
    kind,
    name: null,
    hash: hashKey(token),
    prefix: token.slice(0, 10),
    disabled: false,
    revoked_at: null,
    expires_at: null,
    budget_micros: null,
    rpm: null,
    tpm: null,
    allowed_models: null,
    fallbacks: {},
    cache: null,
    rotated_from: null,
    created_at: NOW,
    updated_at: NOW,
  };
}

const bearer = (token: string) => ({ authorization: `Bearer ${token}` });
const codeOf = (fn: () => unknown): string | undefined => {
  try {
    fn();
    return undefined;
  } catch (err) {
    return (err as { code?: string }).code;
  }
};

describe('authenticateKey on a key seen before', () => {
  it('sees a revocation, a disabled org and the key kind after the first success', () => {
    const view = new TenantView();
    view.putOrg(org());
    const sk = generateKey('sk');
    const mk = generateKey('mk');
    view.putKey(keyRow(sk, 'sk', 'key_sk'));
    view.putKey(keyRow(mk, 'mk', 'key_mk'));

    expect(authenticateKey(view, bearer(sk), ['sk'], NOW).key.id).toBe('key_sk');
    expect(authenticateKey(view, bearer(sk), ['sk'], NOW).key.id).toBe('key_sk');
    expect(authenticateKey(view, bearer(mk), ['mk'], NOW).key.id).toBe('key_mk');
    // The remembered management key is still a management key where an inference key is needed.
    expect(codeOf(() => authenticateKey(view, bearer(mk), ['sk'], NOW))).toBe('wrong_key_type');
    expect(codeOf(() => authenticateKey(view, bearer(sk), ['mk'], NOW))).toBe('wrong_key_type');

    view.putKey({ ...keyRow(sk, 'sk', 'key_sk'), revoked_at: NOW - 1 });
    expect(codeOf(() => authenticateKey(view, bearer(sk), ['sk'], NOW))).toBe('invalid_api_key');

    view.putOrg({ ...org(), disabled: true });
    expect(codeOf(() => authenticateKey(view, bearer(mk), ['mk'], NOW))).toBe('org_disabled');
  });

  it('still refuses a malformed or mistyped token the second time', () => {
    const view = new TenantView();
    view.putOrg(org());
    const sk = generateKey('sk');
    view.putKey(keyRow(sk, 'sk', 'key_sk'));
    const mistyped = `${sk.slice(0, -1)}${sk.endsWith('A') ? 'B' : 'A'}`;
    for (let i = 0; i < 2; i++) {
      expect(codeOf(() => authenticateKey(view, bearer(mistyped), ['sk'], NOW))).toBe('invalid_api_key');
      expect(codeOf(() => authenticateKey(view, bearer('sk-tg-short'), ['sk'], NOW))).toBe('invalid_api_key');
      // A well-formed key that was never issued is hashed and remembered, and stays unknown.
      expect(codeOf(() => authenticateKey(view, bearer(generateKey('sk')), ['sk'], NOW))).toBe('invalid_api_key');
    }
  });
});
