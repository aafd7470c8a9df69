// Owns money: integer micro-USD, prices, balances and reservations (in memory or in Redis), and the write-behind usage queue.
// Must not decide routing or talk HTTP: the engine asks it to reserve and settle, the store makes records durable.
export { CreditAccounts, type CreditLedger, type Reservation } from './accounts.js';
export { costMicros, formatUsd, microsToUsd, usdToMicros, worstCaseMicros } from './money.js';
export { RedisCreditLedger } from './redis-ledger.js';
export { ResilientLedger } from './resilient-ledger.js';
export { type FinishedRequest, UsageWriter } from './usage-writer.js';
