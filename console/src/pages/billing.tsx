// Balance and the append-only ledger it is the sum of: grants in, charges out.
import { useState } from 'react';
import { getBalance, listLedger } from '../api';
import { PageHeader, Pager, StatCard } from '../components/page-header';
import { Empty, ErrorState, Loading } from '../components/states';
import { formatDateTime, formatUsd } from '../format';
import { useResource } from '../use-resource';

export function BillingPage() {
  const balance = useResource((signal) => getBalance(signal), 'balance');
  const [cursors, setCursors] = useState<(string | undefined)[]>([undefined]);
  const cursor = cursors[cursors.length - 1];
  const ledger = useResource((signal) => listLedger(cursor, signal), `ledger-${cursor ?? ''}`);
  const entries = ledger.data?.data ?? [];

  return (
    <section data-testid="page-billing">
      <PageHeader
        title="Billing"
        testId="billing-header"
        description="Your prepaid balance and every grant and charge behind it."
        actions={
          <button
            className="btn"
            onClick={() => {
              balance.reload();
              ledger.reload();
            }}
            data-testid="billing-refresh"
          >
            Refresh
          </button>
        }
      />
      <div className="stats">
        <StatCard
          label="Balance"
          testId="billing-balance"
          value={balance.data ? formatUsd(balance.data.balance_usd) : balance.error ? '—' : '…'}
          detail={balance.error ? balance.error.message : 'Requests are refused with 402 insufficient_balance when it runs out. Ask your operator for a top-up.'}
        />
      </div>
      <div className="card card-flush">
        <h2 className="card-title">Ledger</h2>
        {ledger.error && <ErrorState error={ledger.error} onRetry={ledger.reload} title="The ledger could not be loaded" />}
        {!ledger.data && !ledger.error && <Loading label="Loading ledger…" />}
        {ledger.data && entries.length === 0 && <Empty title="No ledger entries yet">Credit grants and request charges will be listed here.</Empty>}
        {ledger.data && entries.length > 0 && (
          <table className="table table-stack" data-testid="ledger-table">
            <thead>
              <tr>
                <th scope="col">Time</th>
                <th scope="col">Kind</th>
                <th scope="col" className="num">Amount</th>
                <th scope="col">Reference</th>
              </tr>
            </thead>
            <tbody>
              {entries.map((e) => {
                // Charges may be reported signed or as positive amounts; always show them as money out.
                const signed = e.kind === 'charge' ? -Math.abs(e.amount_usd) : e.amount_usd;
                return (
                <tr key={e.id} data-testid="ledger-row" data-kind={e.kind}>
                  <td data-label="Time" className="small">
                    {formatDateTime(e.created_at)}
                  </td>
                  <td data-label="Kind">
                    <span className={e.kind === 'grant' ? 'badge badge-ok' : 'badge'}>{e.kind === 'grant' ? 'Credit grant' : e.kind === 'charge' ? 'Charge' : e.kind}</span>
                  </td>
                  <td data-label="Amount" className={signed >= 0 ? 'num amount-in' : 'num amount-out'}>
                    {signed > 0 ? '+' : ''}
                    {formatUsd(signed)}
                  </td>
                  <td data-label="Reference" className="small">
                    <div>
                      {e.note && <div>{e.note}</div>}
                      {e.request_id && <div className="mono muted">{e.request_id}</div>}
                      {!e.note && !e.request_id && <span className="muted">—</span>}
                    </div>
                  </td>
                </tr>
                );
              })}
            </tbody>
          </table>
        )}
        {(entries.length > 0 || cursors.length > 1) && (
          <div className="card-foot">
            <Pager
              page={cursors.length}
              hasNext={Boolean(ledger.data?.next_cursor)}
              busy={ledger.loading}
              onNext={() => ledger.data?.next_cursor && setCursors([...cursors, ledger.data.next_cursor])}
              onPrevious={() => setCursors(cursors.slice(0, -1))}
            />
          </div>
        )}
      </div>
    </section>
  );
}
