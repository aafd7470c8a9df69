// Strict parsers for command-line numbers: a value that would be silently rounded, clamped
// or reinterpreted (rpm 0.5, rpm 0) is refused with a message saying what is accepted.
import { InvalidArgumentError } from 'commander';

const MAX_USD = 1e9;
const MAX_LIMIT = 1e9;

/** Requests or tokens per minute: a whole number of at least 1. */
export function perMinute(v: string): number {
  const n = Number(v);
  if (v.trim() === '' || !Number.isFinite(n)) throw new InvalidArgumentError(`expected a whole number per minute (at least 1), got "${v}".`);
  if (!Number.isInteger(n)) throw new InvalidArgumentError(`expected a whole number per minute, got ${v}; use at least 1 (a fraction would round down to 0 and block the key).`);
  if (n < 1) throw new InvalidArgumentError(`expected at least 1 per minute, got ${v}; leave the option out for the gateway's default limit.`);
  if (n > MAX_LIMIT) throw new InvalidArgumentError(`expected at most ${MAX_LIMIT} per minute, got ${v}.`);
  return n;
}

/** A USD amount: zero or more, at most 6 decimals (micro-USD). */
export function usdAmount(v: string): number {
  const n = Number(v);
  if (v.trim() === '' || !Number.isFinite(n) || n < 0) throw new InvalidArgumentError(`expected an amount in USD, zero or more (e.g. 25 or 2.50), got "${v}".`);
  if (n > MAX_USD) throw new InvalidArgumentError(`expected at most ${MAX_USD} USD, got ${v}.`);
  if (Math.abs(Math.round(n * 1e6) - n * 1e6) > 1e-6) throw new InvalidArgumentError(`expected at most 6 decimals (micro-USD), got ${v}.`);
  return n;
}

/** A USD amount that must be more than zero. */
export function positiveUsd(v: string): number {
  const n = usdAmount(v);
  if (n === 0) throw new InvalidArgumentError('expected an amount above 0 USD.');
  return n;
}

/** Whole seconds, zero or more. */
export function seconds(v: string): number {
  const n = Number(v);
  if (v.trim() === '' || !Number.isInteger(n) || n < 0 || n > 30 * 24 * 3600) throw new InvalidArgumentError(`expected whole seconds from 0 to 2592000 (30 days), got "${v}".`);
  return n;
}

/** An organisation name, by the rule POST /admin/orgs applies: trimmed, 1 to 200 characters. */
export function orgName(v: string): string {
  const name = v.trim();
  if (name === '') throw new InvalidArgumentError('expected an organisation name, got an empty one.');
  if (name.length > 200) throw new InvalidArgumentError(`expected an organisation name of at most 200 characters, got ${name.length}.`);
  return name;
}

export function port(v: string): number {
  const n = Number(v);
  if (v.trim() === '' || !Number.isInteger(n) || n < 0 || n > 65535) throw new InvalidArgumentError(`expected a port number from 0 to 65535, got "${v}".`);
  return n;
}

/** Tokens per second for the mock upstream: zero (unthrottled) or more. */
export function rate(v: string): number {
  const n = Number(v);
  if (v.trim() === '' || !Number.isFinite(n) || n < 0) throw new InvalidArgumentError(`expected a number, zero or more, got "${v}".`);
  return n;
}
