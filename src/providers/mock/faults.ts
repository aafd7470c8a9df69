// Fault injection for the mock provider, from its config and from the `x-mock-fault`
// request header (e.g. "status=429,retry_after=2" or "reset_after=3"), honoured only by the mock.
import type { MockFaults } from '../../config/schema.js';

export interface FaultPlan {
  latencyMs: number;
  status: number | undefined;
  retryAfterS: number | undefined;
  /** never send the first byte */
  hang: boolean;
  /** stall (send nothing more) after this many stream chunks */
  hangAfter: number | undefined;
  /** drop the connection after this many stream chunks */
  resetAfter: number | undefined;
  /** send a body that is not valid JSON / a broken stream event */
  malformed: boolean;
  /** override the streaming token rate */
  tokensPerSecond: number | undefined;
}

function toInt(v: string | undefined): number | undefined {
  if (v === undefined || v === '') return undefined;
  const n = Number(v);
  return Number.isFinite(n) && n >= 0 ? Math.floor(n) : undefined;
}

export function planFaults(config: MockFaults | undefined, header: string | undefined, random: () => number = Math.random): FaultPlan {
  const plan: FaultPlan = {
    latencyMs: config?.latency_ms ?? 0,
    status: undefined,
    retryAfterS: undefined,
    hang: config?.hang ?? false,
    hangAfter: undefined,
    resetAfter: config?.reset_after_chunks ?? undefined,
    malformed: config?.malformed ?? false,
    tokensPerSecond: undefined,
  };
  if (config && config.error_rate > 0 && random() < config.error_rate) plan.status = config.error_status;
  if (!header) return plan;
  for (const part of header.split(/[;,]/)) {
    const [rawName, value] = part.split('=', 2).map((s) => s.trim());
    const name = rawName?.toLowerCase();
    switch (name) {
      case 'status':
        plan.status = toInt(value);
        break;
      case 'retry_after':
        plan.retryAfterS = toInt(value);
        break;
      case 'latency':
        plan.latencyMs = toInt(value) ?? 0;
        break;
      case 'hang':
        plan.hang = true;
        break;
      case 'hang_after':
        plan.hangAfter = toInt(value);
        break;
      case 'reset_after':
        plan.resetAfter = toInt(value);
        break;
      case 'malformed':
        plan.malformed = true;
        break;
      case 'tps':
        plan.tokensPerSecond = toInt(value);
        break;
      case 'error_rate': {
        const rate = Number(value);
        if (Number.isFinite(rate) && random() < rate) plan.status = plan.status ?? 500;
        break;
      }
      default:
        break;
    }
  }
  return plan;
}
