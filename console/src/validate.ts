// Form checks done before anything is sent, with messages that say what to type instead.

export interface Parsed<T> {
  value: T;
  error: string | null;
}

/** Empty means "not set" (null). Otherwise a finite number ≥ 0, optionally a whole number. */
export function parseOptionalNumber(text: string, opts: { integer?: boolean; min?: number; max?: number; label: string }): Parsed<number | null> {
  const trimmed = text.trim();
  if (trimmed === '') return { value: null, error: null };
  const value = Number(trimmed);
  if (!Number.isFinite(value)) return { value: null, error: `${opts.label} must be a number.` };
  if (value < 0) return { value: null, error: `${opts.label} cannot be negative.` };
  if (opts.integer && !Number.isInteger(value)) return { value: null, error: `${opts.label} must be a whole number.` };
  if (opts.min !== undefined && value < opts.min) return { value: null, error: `${opts.label} must be at least ${opts.min}.` };
  if (opts.max !== undefined && value > opts.max) return { value: null, error: `${opts.label} must be at most ${opts.max}.` };
  if (!opts.integer && /\.\d{7,}$/.test(trimmed)) return { value: null, error: `${opts.label} can have at most 6 decimals.` };
  return { value, error: null };
}

export function parseRequiredNumber(text: string, opts: { integer?: boolean; min?: number; max?: number; label: string; positive?: boolean }): Parsed<number | null> {
  if (text.trim() === '') return { value: null, error: `${opts.label} is required.` };
  const parsed = parseOptionalNumber(text, opts);
  if (!parsed.error && opts.positive && parsed.value === 0) return { value: null, error: `${opts.label} must be more than 0.` };
  return parsed;
}

export function checkEmail(text: string): string | null {
  if (!text.trim()) return null;
  return /^[^\s@]+@[^\s@]+\.[^\s@]+$/.test(text.trim()) ? null : 'Enter an email address such as ops@example.com.';
}

export function checkUrl(text: string): string | null {
  if (!text.trim()) return null;
  try {
    const url = new URL(text.trim());
    return url.protocol === 'http:' || url.protocol === 'https:' ? null : 'The webhook URL must start with http:// or https://.';
  } catch {
    return 'Enter a full URL such as https://example.com/hooks/tollgate.';
  }
}

/** A v4 UUID even outside secure contexts, where crypto.randomUUID is missing. */
export function newUuid(): string {
  if (typeof crypto.randomUUID === 'function') return crypto.randomUUID();
  const b = crypto.getRandomValues(new Uint8Array(16));
  b[6] = (b[6] & 0x0f) | 0x40;
  b[8] = (b[8] & 0x3f) | 0x80;
  const h = Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

export function hasErrors(errors: Record<string, string | null | undefined>): boolean {
  return Object.values(errors).some(Boolean);
}
