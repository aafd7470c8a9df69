// Display helpers. Money arrives as decimal USD numbers with up to 6 places (SPEC §2).

export function formatUsd(value: number | null | undefined): string {
  if (value === null || value === undefined || !Number.isFinite(value)) return '—';
  const sign = value < 0 ? '-' : '';
  const abs = Math.abs(value);
  if (abs === 0) return '$0.00';
  // Per-request costs are often fractions of a cent; rounding them to $0.00 would hide them.
  if (abs < 0.01) {
    const text = abs.toFixed(6).replace(/0+$/, '');
    return `${sign}$${text}`;
  }
  return `${sign}$${abs.toLocaleString('en-US', { minimumFractionDigits: 2, maximumFractionDigits: 2 })}`;
}

export function formatNumber(value: number | null | undefined): string {
  if (value === null || value === undefined || !Number.isFinite(value)) return '—';
  return value.toLocaleString('en-US');
}

export function formatPercent(fraction: number | null | undefined, digits = 1): string {
  if (fraction === null || fraction === undefined || !Number.isFinite(fraction)) return '—';
  return `${(fraction * 100).toFixed(digits)}%`;
}

export function formatMs(ms: number | null | undefined): string {
  if (ms === null || ms === undefined || !Number.isFinite(ms)) return '—';
  if (ms >= 10_000) return `${(ms / 1000).toFixed(1)} s`;
  return `${Math.round(ms)} ms`;
}

export function formatDateTime(date: Date | null | undefined): string {
  if (!date) return '—';
  return date.toLocaleString('en-GB', {
    year: 'numeric',
    month: 'short',
    day: '2-digit',
    hour: '2-digit',
    minute: '2-digit',
    second: '2-digit',
  });
}

export function formatDay(date: Date): string {
  return date.toLocaleDateString('en-GB', { month: 'short', day: 'numeric', timeZone: 'UTC' });
}

export function formatTokens(value: number | null | undefined): string {
  if (value === null || value === undefined || !Number.isFinite(value)) return '—';
  if (value >= 1_000_000) return `${(value / 1_000_000).toFixed(1)}M`;
  if (value >= 10_000) return `${(value / 1000).toFixed(1)}k`;
  return value.toLocaleString('en-US');
}

/** Compact axis labels: $1.2k, 3.4M … */
export function formatCompact(value: number, money = false): string {
  const prefix = money ? '$' : '';
  const abs = Math.abs(value);
  if (abs >= 1_000_000) return `${prefix}${(value / 1_000_000).toFixed(1)}M`;
  if (abs >= 1000) return `${prefix}${(value / 1000).toFixed(1)}k`;
  if (money) {
    if (abs === 0) return '$0';
    // Three significant digits keep neighbouring small ticks ($0.005, $0.01, $0.015) distinct.
    if (abs < 1) return `$${Number(value.toPrecision(3))}`;
    if (abs < 10) return `$${value.toFixed(2)}`;
  }
  return `${prefix}${Number.isInteger(value) ? value : value.toFixed(1)}`;
}

/** `datetime-local` input value (local time) → ISO 8601, or undefined when empty. */
export function localInputToIso(value: string): string | undefined {
  if (!value) return undefined;
  const date = new Date(value);
  return Number.isNaN(date.getTime()) ? undefined : date.toISOString();
}

/** ISO / Date → `datetime-local` input value in local time. */
export function dateToLocalInput(date: Date | null): string {
  if (!date) return '';
  const pad = (n: number) => String(n).padStart(2, '0');
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}T${pad(date.getHours())}:${pad(date.getMinutes())}`;
}
