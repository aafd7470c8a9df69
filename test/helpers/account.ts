// Reading an org's money and usage through the public API, for "nothing was charged" checks.
import { flushed, type TestGateway } from './gateway.js';

export async function balanceOf(url: string, key: string): Promise<{ balance_usd: number; reserved_usd?: number; key?: { spend_usd: number } }> {
  const res = await fetch(`${url}/api/balance`, { headers: { authorization: `Bearer ${key}` } });
  if (res.status !== 200) throw new Error(`GET /api/balance: ${res.status} ${await res.text()}`);
  return (await res.json()) as { balance_usd: number; reserved_usd?: number; key?: { spend_usd: number } };
}

export interface UsageRecord {
  request_id: string;
  key_id: string;
  model: string;
  prompt_tokens: number;
  completion_tokens: number;
  cost_usd: number;
  status: number;
  error_code: string | null;
  estimated: boolean;
  stream: boolean;
}

/** Every usage record of the management key's org, after the write-behind queue is flushed. */
export async function usageOf(gw: TestGateway, mk: string): Promise<UsageRecord[]> {
  await flushed(gw);
  const res = await fetch(`${gw.url}/api/usage`, { headers: { authorization: `Bearer ${mk}` } });
  if (res.status !== 200) throw new Error(`GET /api/usage: ${res.status} ${await res.text()}`);
  return ((await res.json()) as { data: UsageRecord[] }).data;
}
