// Every error code Tollgate can return, with its HTTP status and type (SPEC §12).
// This is the only place codes are declared; test/docs/errors-doc.test.ts checks docs/errors.md against it.

export const ERROR_REGISTRY = {
  invalid_json: { status: 400, type: 'invalid_request_error' },
  missing_required_parameter: { status: 400, type: 'invalid_request_error' },
  invalid_messages: { status: 400, type: 'invalid_request_error' },
  invalid_value: { status: 400, type: 'invalid_request_error' },
  unknown_parameter: { status: 400, type: 'invalid_request_error' },
  unsupported_parameter: { status: 400, type: 'invalid_request_error' },
  context_exceeded: { status: 400, type: 'invalid_request_error' },
  missing_api_key: { status: 401, type: 'authentication_error' },
  invalid_api_key: { status: 401, type: 'authentication_error' },
  expired_api_key: { status: 401, type: 'authentication_error' },
  insufficient_balance: { status: 402, type: 'billing_error' },
  budget_exceeded: { status: 402, type: 'billing_error' },
  model_not_allowed: { status: 403, type: 'permission_error' },
  key_disabled: { status: 403, type: 'permission_error' },
  org_disabled: { status: 403, type: 'permission_error' },
  wrong_key_type: { status: 403, type: 'permission_error' },
  model_not_found: { status: 404, type: 'not_found_error' },
  not_found: { status: 404, type: 'not_found_error' },
  method_not_allowed: { status: 405, type: 'invalid_request_error' },
  request_timeout: { status: 408, type: 'invalid_request_error' },
  idempotency_conflict: { status: 409, type: 'invalid_request_error' },
  payload_too_large: { status: 413, type: 'invalid_request_error' },
  rpm_exceeded: { status: 429, type: 'rate_limit_error' },
  tpm_exceeded: { status: 429, type: 'rate_limit_error' },
  concurrency_exceeded: { status: 429, type: 'rate_limit_error' },
  upstream_rate_limited: { status: 429, type: 'rate_limit_error' },
  internal_error: { status: 500, type: 'api_error' },
  provider_error: { status: 502, type: 'upstream_error' },
  model_unavailable: { status: 503, type: 'upstream_error' },
  overloaded: { status: 503, type: 'upstream_error' },
  store_unavailable: { status: 503, type: 'api_error' },
  timeout: { status: 504, type: 'upstream_error' },
} as const;

export type ErrorCode = keyof typeof ERROR_REGISTRY;
export type ErrorType = (typeof ERROR_REGISTRY)[ErrorCode]['type'];
